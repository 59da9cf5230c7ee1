import { createHash } from 'node:crypto';
import { type CatalogArtifact, type CatalogIndex, type IndexedArtifact, type IndexedChannel, type IndexedComponent, type IndexedRollout } from './catalog';
import type { DeviceRequest, PayloadType } from './device-request';
import { compareVersions, type Version } from './version';

/**
 * Why a component got the answer it got.
 * - `channel` / `rollout`: the target is offered; it comes from the channel pointer or from a rollout that includes the device.
 * - `bridge-required`: an intermediate version is offered because the target's `requiresFrom` is above the installed one.
 * - `installed`: the device already runs the target (304).
 * - `ahead-of-channel`: the device runs a version above the target and the channel does not allow downgrade (304).
 * - `no-upgrade-path`: no artifact between installed and target may be installed from the installed version (304).
 * - `downgrade`: the device is above the target and the channel allows going back to it.
 */
export type OfferReason = 'channel' | 'rollout' | 'bridge-required' | 'installed' | 'ahead-of-channel' | 'no-upgrade-path' | 'downgrade';

/** The answer for one selected component. */
export interface ComponentDecision {
  /** Catalog spelling. */
  component: string;
  /** Catalog spelling of the channel that selected it. */
  channel: string;
  /** 200: `offered` is to be downloaded; 304: keep what is installed. */
  statusCode: 200 | 304;
  reason: OfferReason;
  /** What to download; absent when `statusCode` is 304. */
  offered?: CatalogArtifact;
  /** The version the device runs once it has applied this answer: the offered one, or the installed one on a 304. */
  latestVersion: string;
  /** Where the component is heading: the channel's version, or the rollout's. */
  targetVersion: string;
  /** Catalog spelling when the catalog knows the installed artifact, else the device's own. */
  installedVersion?: string;
  /** The installed artifact, when a hash matched or the declared version exists in the catalog. */
  installedArtifact?: CatalogArtifact;
  /** How the installed version was learnt: a hash wins over a declared version. */
  installedFrom?: 'hash' | 'declared';
  /** Set when the target comes from a rollout that includes the device. */
  rolloutId?: string;
}

/** A successful decision. `status` is 304 only when no selected component needs a download. */
export interface ResolvedDecision {
  ok: true;
  status: 200 | 304;
  /** Sorted by component name (case-insensitive), so equal requests give byte-identical answers. */
  components: ComponentDecision[];
}

/** A selection named a component or channel that does not exist (`os_<cpuArch>` included). */
export interface NotFoundDecision {
  ok: false;
  code: 'not-found';
  /** Every missing piece, sorted, separated by `; `. */
  message: string;
}

/** The outcome of {@link decide}. */
export type Decision = ResolvedDecision | NotFoundDecision;

interface Selection {
  component: IndexedComponent;
  channel: IndexedChannel;
  target: IndexedArtifact;
  rollout?: IndexedRollout;
}

interface Installed {
  version: Version;
  artifact?: IndexedArtifact;
  from: 'hash' | 'declared';
}

/**
 * Decides what a device gets. Pure and synchronous; cost is proportional to the request, not to the catalog.
 *
 * Selection:
 * - `cpuArch=X` selects `os_X` on the channel named by `os` (default `prod`);
 * - `attrFoo=<channel>` selects every component whose channel `<channel>` carries flag `foo`;
 * - `<component>=<channel>` selects that component on that channel;
 * - other keys are ignored. Keys starting with `attr` are always flag selectors, and `cpuArch`/`os` are never
 *   component names. All names are case-insensitive.
 *
 * `cpuArch` is required, so a decision either selects `os_X` or is `not-found`. Every selection is checked:
 * a missing `os_X`, or a missing channel of `os_X` or of a named component, is `not-found` even when another
 * selection covers the same component.
 *
 * When several selections name one component: an explicit `<component>=<channel>` wins, then the `cpuArch`/`os`
 * one, then among `attr*` selections the one whose target (after rollouts) is the highest version, ties going to
 * the channel name first in case-insensitive order. None of this depends on parameter order.
 */
export function decide(index: CatalogIndex, request: DeviceRequest): Decision {
  const missing: string[] = [];
  const explicit = new Map<IndexedComponent, Selection>();
  const byFlag = new Map<IndexedComponent, Selection>();
  let bySystem: Selection | undefined;

  const osName = `os_${request.cpuArch}`;
  const os = index.components.get(osName.toLowerCase());
  const osChannel = request.attributesLower.get('os') ?? 'prod';
  if (!os) {
    missing.push(`no component ${osName} (cpuArch=${request.cpuArch})`);
  } else {
    const channel = os.channels.get(osChannel);
    if (channel) bySystem = select(os, channel, request);
    else missing.push(`component ${os.name} has no channel "${originalValue(request, 'os') ?? 'prod'}"`);
  }

  for (const [key, value] of request.attributesLower) {
    if (key === 'cpuarch' || key === 'os') continue;
    if (key.startsWith('attr')) {
      for (const { component, channel } of index.flagged.get(key.slice(4))?.get(value) ?? []) {
        const candidate = select(component, channel, request);
        const current = byFlag.get(component);
        if (!current || preferred(candidate, current)) byFlag.set(component, candidate);
      }
      continue;
    }
    const component = index.components.get(key);
    if (!component) continue;
    const channel = component.channels.get(value);
    if (channel) explicit.set(component, select(component, channel, request));
    else missing.push(`component ${component.name} has no channel "${originalValue(request, key)}"`);
  }

  if (missing.length > 0) return { ok: false, code: 'not-found', message: missing.sort().join('; ') };
  const selections = new Map(byFlag);
  if (bySystem) selections.set(bySystem.component, bySystem);
  for (const [component, selection] of explicit) selections.set(component, selection);

  const components = [...selections.values()].sort((a, b) => a.component.order - b.component.order).map((selection) => answer(selection, request));
  return { ok: true, status: components.some((c) => c.statusCode === 200) ? 200 : 304, components };
}

function select(component: IndexedComponent, channel: IndexedChannel, request: DeviceRequest): Selection {
  const rollout = channel.rollouts.find((r) => includes(r, request));
  return rollout ? { component, channel, target: rollout.target, rollout } : { component, channel, target: channel.target };
}

function includes(rollout: IndexedRollout, request: DeviceRequest): boolean {
  // A device without a cohort cannot be placed in a partial phase, so it waits for 100 %.
  const inPhase = rollout.percent >= 100 || (request.cohort !== undefined && request.cohort < rollout.percent);
  return inPhase && rollout.selectors.every(([key, value]) => request.attributesLower.get(key) === value);
}

function preferred(candidate: Selection, current: Selection): boolean {
  const order = compareVersions(candidate.target.version, current.target.version);
  if (order !== 0) return order > 0;
  return candidate.channel.name.toLowerCase() < current.channel.name.toLowerCase();
}

function originalValue(request: DeviceRequest, lowerKey: string): string | undefined {
  const key = Object.keys(request.attributes).find((k) => k.toLowerCase() === lowerKey);
  return key === undefined ? undefined : request.attributes[key];
}

function answer({ component, channel, target, rollout }: Selection, request: DeviceRequest): ComponentDecision {
  // Built in place rather than by spreading: this runs for every component of every check.
  const decision: ComponentDecision = {
    component: component.name,
    channel: channel.name,
    statusCode: 200,
    reason: rollout ? 'rollout' : 'channel',
    latestVersion: target.artifact.version,
    targetVersion: target.artifact.version,
  };
  if (rollout) decision.rolloutId = rollout.id;
  const installed = installedOf(component, request);
  if (!installed) return offer(decision, target, decision.reason);

  decision.installedVersion = installed.artifact?.artifact.version ?? installed.version.raw;
  if (installed.artifact) decision.installedArtifact = installed.artifact.artifact;
  decision.installedFrom = installed.from;
  const order = compareVersions(installed.version, target.version);
  if (order === 0) return keep(decision, 'installed');
  if (order > 0) return channel.allowDowngrade ? offer(decision, target, 'downgrade') : keep(decision, 'ahead-of-channel');
  const hop = nextHop(component, installed.version, target);
  if (!hop) return keep(decision, 'no-upgrade-path');
  return offer(decision, hop, hop === target ? decision.reason : 'bridge-required');
}

function offer(decision: ComponentDecision, artifact: IndexedArtifact, reason: OfferReason): ComponentDecision {
  decision.reason = reason;
  decision.offered = artifact.artifact;
  decision.latestVersion = artifact.artifact.version;
  return decision;
}

function keep(decision: ComponentDecision, reason: OfferReason): ComponentDecision {
  decision.statusCode = 304;
  decision.reason = reason;
  decision.latestVersion = decision.installedVersion!;
  return decision;
}

function installedOf(component: IndexedComponent, request: DeviceRequest): Installed | undefined {
  let best: IndexedArtifact | undefined;
  for (const hash of request.hashes) {
    const artifact = component.byHash.get(hash);
    if (artifact && (!best || artifact.position > best.position)) best = artifact;
  }
  if (best) return { version: best.version, artifact: best, from: 'hash' };
  const declared = request.installed.get(component.key);
  if (!declared) return undefined;
  return { version: declared.version, artifact: component.byVersionKey.get(declared.version.key), from: 'declared' };
}

/**
 * The highest artifact in (installed, target] that may be installed straight from `installed`.
 * Taking the highest is enough to reach the target whenever any chain of hops would: a higher
 * installed version only ever unlocks more artifacts, since `requiresFrom` is a lower bound.
 */
function nextHop(component: IndexedComponent, installed: Version, target: IndexedArtifact): IndexedArtifact | undefined {
  for (let i = target.position; i >= 0; i--) {
    const candidate = component.artifacts[i];
    if (compareVersions(candidate.version, installed) <= 0) return undefined;
    if (!candidate.requiresFrom || compareVersions(candidate.requiresFrom, installed) <= 0) return candidate;
  }
  return undefined;
}

/**
 * A strong ETag for a decision and its representation (`payloadType`): `d-` and 32 hex digits, to be sent quoted.
 * It covers everything a device can act on (components, channels, status codes, reasons, versions, artifact hashes,
 * rollout ids) but not URLs, which depend on where the answer is served from.
 */
export function decisionEtag(decision: ResolvedDecision, payloadType: PayloadType): string {
  const content = decision.components.map((c) => [
    c.component,
    c.channel,
    c.statusCode,
    c.reason,
    c.offered?.sha256.toLowerCase() ?? null,
    c.installedArtifact?.sha256.toLowerCase() ?? null,
    c.latestVersion,
    c.targetVersion,
    c.installedVersion ?? null,
    c.rolloutId ?? null,
  ]);
  const digest = createHash('sha256')
    .update(JSON.stringify([payloadType, decision.status, content]))
    .digest('hex');
  return `d-${digest.slice(0, 32)}`;
}
