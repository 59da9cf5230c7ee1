import { compareVersions, tryParseVersion, type Version } from './version';

/** One version of a component's binary, as the server stores it. `version` is the vendor's spelling. */
export interface CatalogArtifact {
  version: string;
  /** Lower- or upper-case hex; matched case-insensitively. */
  sha256: string;
  md5: string;
  size: number;
  /** The lowest installed version that may go straight to this one (a bridge constraint); absent: any. */
  requiresFrom?: string | null;
}

/** A named track of a component pointing at one version, plus the device attribute flags that pull it in. */
export interface CatalogChannel {
  name: string;
  version: string;
  /** `gamer` here means `attrGamer=<this channel's name>` selects the component. */
  flags: string[];
  /** Lets a device above the channel's version be sent back to it. */
  allowDowngrade: boolean;
}

/** A slot on the device that holds one binary, with all its versions and channels. */
export interface CatalogComponent {
  name: string;
  artifacts: CatalogArtifact[];
  channels: CatalogChannel[];
}

/** A running rollout phase: devices it includes get `version` instead of the channel's version. */
export interface CatalogRollout {
  id: string;
  component: string;
  channel: string;
  version: string;
  /** Device attributes that must all match (keys and values case-insensitive). */
  selectors: Record<string, string>;
  /** Share of cohorts included: a device with cohort `c` is in when `c < percent`; 100 or more includes everyone. */
  percent: number;
}

/** Everything a decision needs, as the server reads it from its database. */
export interface CatalogSnapshot {
  /** Opaque; changes whenever the snapshot changes. */
  revision: string;
  components: CatalogComponent[];
  /** Only running rollouts: scheduled, paused, completed and aborted ones do not change any answer. */
  rollouts: CatalogRollout[];
}

/** An artifact with its versions parsed once. */
export interface IndexedArtifact {
  readonly artifact: CatalogArtifact;
  readonly version: Version;
  readonly requiresFrom?: Version;
  /** Index in {@link IndexedComponent.artifacts}, so "higher" is a number comparison. */
  readonly position: number;
}

/** A rollout resolved against its component: selectors lower-cased, target artifact found. */
export interface IndexedRollout {
  readonly id: string;
  readonly target: IndexedArtifact;
  readonly selectors: ReadonlyArray<readonly [key: string, value: string]>;
  readonly percent: number;
}

/** A channel resolved against its component. */
export interface IndexedChannel {
  /** Catalog spelling. */
  readonly name: string;
  readonly target: IndexedArtifact;
  readonly allowDowngrade: boolean;
  /** Lower-case flags. */
  readonly flags: ReadonlySet<string>;
  /** Rollouts on this channel, most preferred first (highest version, then id): the first that includes a device wins. */
  readonly rollouts: readonly IndexedRollout[];
}

/** A component with lookups precomputed for `decide`. */
export interface IndexedComponent {
  /** Catalog spelling. */
  readonly name: string;
  /** Lower-case name, the key of {@link CatalogIndex.components} and of `DeviceRequest.installed`. */
  readonly key: string;
  /** Rank by name, so a decision sorts its few components without comparing strings. */
  readonly order: number;
  /** Ascending version order. */
  readonly artifacts: readonly IndexedArtifact[];
  /** Lower-case MD5 and SHA-256 hex → artifact (the highest when several versions share bytes). */
  readonly byHash: ReadonlyMap<string, IndexedArtifact>;
  /** {@link Version.key} → artifact. */
  readonly byVersionKey: ReadonlyMap<string, IndexedArtifact>;
  /** Lower-case channel name → channel. */
  readonly channels: ReadonlyMap<string, IndexedChannel>;
}

/** A component's channel that carries a given flag. */
export interface FlaggedChannel {
  readonly component: IndexedComponent;
  readonly channel: IndexedChannel;
}

/**
 * A {@link CatalogSnapshot} prepared for many decisions. Build it once per snapshot with
 * {@link indexCatalog} and share it: it is never mutated.
 */
export interface CatalogIndex {
  readonly revision: string;
  /** Lower-case component name → component. */
  readonly components: ReadonlyMap<string, IndexedComponent>;
  /** Lower-case flag → lower-case channel name → the channels with that name carrying that flag. */
  readonly flagged: ReadonlyMap<string, ReadonlyMap<string, readonly FlaggedChannel[]>>;
}

/** The snapshot is inconsistent; `problems` lists every one found. The server should keep serving its previous index. */
export class CatalogError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`catalog snapshot is inconsistent: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`);
    this.name = 'CatalogError';
  }
}

const MD5_HEX = /^[0-9a-f]{32}$/i;
const SHA256_HEX = /^[0-9a-f]{64}$/i;

/**
 * Parses and cross-checks a snapshot once, so that `decide` only does map look-ups and short scans.
 * Throws {@link CatalogError} listing every problem: unparsable versions, duplicate names (case-insensitive),
 * malformed hashes, channels or rollouts pointing at a version without an artifact, rollouts on unknown channels.
 */
export function indexCatalog(snapshot: CatalogSnapshot): CatalogIndex {
  const problems: string[] = [];
  const rolloutsByComponent = groupBy(snapshot.rollouts, (r) => r.component.toLowerCase());
  const order = new Map(
    snapshot.components
      .map((c) => c.name)
      .sort(compareNames)
      .map((name, rank) => [name, rank]),
  );
  const components = new Map<string, IndexedComponent>();
  const flagged = new Map<string, Map<string, FlaggedChannel[]>>();

  for (const source of snapshot.components) {
    const key = source.name.toLowerCase();
    if (components.has(key)) {
      problems.push(`component ${source.name} is listed twice (names are case-insensitive)`);
      continue;
    }
    const component = indexComponent(source, order.get(source.name)!, rolloutsByComponent.get(key) ?? [], problems);
    components.set(key, component);
    for (const channel of component.channels.values()) {
      for (const flag of channel.flags) {
        const byChannel = flagged.get(flag) ?? flagged.set(flag, new Map()).get(flag)!;
        const name = channel.name.toLowerCase();
        const list = byChannel.get(name) ?? byChannel.set(name, []).get(name)!;
        list.push({ component, channel });
      }
    }
  }
  for (const [key, rollouts] of rolloutsByComponent) {
    if (!components.has(key)) problems.push(...rollouts.map((r) => `${describeRollout(r)}: no such component`));
  }
  const ids = new Set<string>();
  for (const rollout of snapshot.rollouts) {
    if (ids.has(rollout.id)) problems.push(`${describeRollout(rollout)}: the id is listed twice`);
    ids.add(rollout.id);
  }

  if (problems.length > 0) throw new CatalogError(problems);
  return { revision: snapshot.revision, components, flagged };
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}

function compareNames(a: string, b: string): number {
  const al = a.toLowerCase();
  const bl = b.toLowerCase();
  if (al !== bl) return al < bl ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeRollout(r: CatalogRollout): string {
  return `rollout ${r.id} (${r.component}/${r.channel}@${r.version})`;
}

function indexComponent(source: CatalogComponent, order: number, rollouts: readonly CatalogRollout[], problems: string[]): IndexedComponent {
  const parsed: Array<Omit<IndexedArtifact, 'position'>> = [];
  for (const artifact of source.artifacts) {
    const where = `${source.name}@${artifact.version}`;
    const version = tryParseVersion(artifact.version);
    if (!version) {
      problems.push(`${where}: the version cannot be parsed`);
      continue;
    }
    let requiresFrom: Version | undefined;
    if (artifact.requiresFrom != null) {
      requiresFrom = tryParseVersion(artifact.requiresFrom);
      if (!requiresFrom) problems.push(`${where}: requiresFrom "${artifact.requiresFrom}" cannot be parsed`);
    }
    if (!MD5_HEX.test(artifact.md5)) problems.push(`${where}: md5 is not 32 hex digits`);
    if (!SHA256_HEX.test(artifact.sha256)) problems.push(`${where}: sha256 is not 64 hex digits`);
    parsed.push({ artifact, version, requiresFrom });
  }
  parsed.sort((a, b) => compareVersions(a.version, b.version));

  const artifacts: IndexedArtifact[] = parsed.map((a, position) => ({ ...a, position }));
  const byVersionKey = new Map<string, IndexedArtifact>();
  const byHash = new Map<string, IndexedArtifact>();
  for (const artifact of artifacts) {
    const same = byVersionKey.get(artifact.version.key);
    if (same) problems.push(`${source.name}@${artifact.artifact.version}: the same version as ${same.artifact.version}`);
    byVersionKey.set(artifact.version.key, artifact);
    // Ascending order: a higher artifact with the same bytes overwrites, so a hash names the highest.
    byHash.set(artifact.artifact.md5.toLowerCase(), artifact);
    byHash.set(artifact.artifact.sha256.toLowerCase(), artifact);
  }

  const rolloutsByChannel = groupBy(rollouts, (r) => r.channel.toLowerCase());
  const channels = new Map<string, IndexedChannel>();
  for (const channel of source.channels) {
    const key = channel.name.toLowerCase();
    if (channels.has(key)) {
      problems.push(`${source.name}: channel ${channel.name} is listed twice (names are case-insensitive)`);
      continue;
    }
    const target = findArtifact(byVersionKey, channel.version);
    if (!target) problems.push(`${source.name}/${channel.name}: no artifact for version ${channel.version}`);
    const indexedRollouts = (rolloutsByChannel.get(key) ?? []).flatMap((r) => indexRollout(r, byVersionKey, problems));
    indexedRollouts.sort((a, b) => compareVersions(b.target.version, a.target.version) || compareNames(a.id, b.id));
    channels.set(key, {
      name: channel.name,
      // Only read when problems is empty, i.e. when the target was found.
      target: target!,
      allowDowngrade: channel.allowDowngrade,
      flags: new Set(channel.flags.map((f) => f.toLowerCase())),
      rollouts: indexedRollouts,
    });
  }
  for (const [key, orphans] of rolloutsByChannel) {
    if (!channels.has(key)) problems.push(...orphans.map((r) => `${describeRollout(r)}: no such channel`));
  }
  return { name: source.name, key: source.name.toLowerCase(), order, artifacts, byHash, byVersionKey, channels };
}

function findArtifact(byVersionKey: ReadonlyMap<string, IndexedArtifact>, version: string): IndexedArtifact | undefined {
  const parsed = tryParseVersion(version);
  return parsed && byVersionKey.get(parsed.key);
}

function indexRollout(rollout: CatalogRollout, byVersionKey: ReadonlyMap<string, IndexedArtifact>, problems: string[]): IndexedRollout[] {
  const target = findArtifact(byVersionKey, rollout.version);
  if (!target) problems.push(`${describeRollout(rollout)}: no artifact for version ${rollout.version}`);
  if (!Number.isFinite(rollout.percent)) problems.push(`${describeRollout(rollout)}: percent must be a finite number`);
  if (!target) return [];
  const selectors = Object.entries(rollout.selectors).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()] as const);
  return [{ id: rollout.id, target, selectors, percent: rollout.percent }];
}
