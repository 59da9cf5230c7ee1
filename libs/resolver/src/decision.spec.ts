import { indexCatalog, type CatalogIndex, type CatalogRollout, type CatalogSnapshot } from './catalog';
import { decide, decisionEtag, type Decision, type ResolvedDecision } from './decision';
import { cohortOf, parseDeviceQuery } from './device-request';
import { artifact, referenceSnapshot } from './testing/reference-catalog';

const reference = indexCatalog(referenceSnapshot());

const md5 = (component: string, version: string) => artifact(component, version).md5;
const sha256 = (component: string, version: string) => artifact(component, version).sha256;

function check(query: string, ifNoneMatch?: string, index: CatalogIndex = reference): Decision {
  return decide(index, parseDeviceQuery(Object.fromEntries(new URLSearchParams(query)), ifNoneMatch));
}

function resolved(query: string, ifNoneMatch?: string, index: CatalogIndex = reference): ResolvedDecision {
  const decision = check(query, ifNoneMatch, index);
  if (!decision.ok) throw new Error(`expected a decision, got not-found: ${decision.message}`);
  return decision;
}

/** `component → "channel statusCode latestVersion reason"`, in the decision's order. */
function brief(decision: ResolvedDecision): Array<[string, string]> {
  return decision.components.map((c) => [c.component, `${c.channel} ${c.statusCode} ${c.latestVersion} ${c.reason}`]);
}

function withRollouts(rollouts: CatalogRollout[], base: CatalogSnapshot = referenceSnapshot()): CatalogIndex {
  return indexCatalog({ ...base, rollouts });
}

describe('decide: selection', () => {
  it.each<[string, string, Array<[string, string]>]>([
    ['cpuArch selects os_<cpuArch> on prod', 'cpuArch=armv8', [['os_armv8', 'prod 200 1.1.0 channel']]],
    ['os picks the OS channel', 'cpuArch=armv8&os=beta', [['os_armv8', 'beta 200 2.0.0 channel']]],
    [
      'attrGamer=prod adds every component whose prod channel carries gamer',
      'cpuArch=armv8&attrGamer=prod',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['scoreboard', 'prod 200 1.0.0 channel'],
        ['videoStreamer', 'prod 200 0.0.1 channel'],
      ],
    ],
    [
      'two flags select four components',
      'cpuArch=armv8&attrGamer=prod&attrCellular=prod',
      [
        ['modemFW', 'prod 200 1.0 channel'],
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['scoreboard', 'prod 200 1.0.0 channel'],
        ['videoStreamer', 'prod 200 0.0.1 channel'],
      ],
    ],
    ['names and values are case-insensitive', 'CPUARCH=ARMv7&OS=Beta', [['os_armv7', 'beta 200 2.0.0 channel']]],
    [
      'flags match the channel name, not every channel',
      'cpuArch=armv8&attrGamer=beta',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['scoreboard', 'beta 200 2.0.0 channel'],
      ],
    ],
    [
      'a flag on one channel only',
      'cpuArch=armv8&attrcamera=BETA',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['videoStreamer', 'beta 200 0.1.2 channel'],
      ],
    ],
    [
      'camel-case component names are reachable (videoStreamer)',
      'cpuArch=armv8&videostreamer=beta',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['videoStreamer', 'beta 200 0.1.2 channel'],
      ],
    ],
    [
      'camel-case component names are reachable (modemFW)',
      'cpuArch=armv8&MODEMFW=prod',
      [
        ['modemFW', 'prod 200 1.0 channel'],
        ['os_armv8', 'prod 200 1.1.0 channel'],
      ],
    ],
    ['keys naming nothing are ignored', 'cpuArch=armv8&site=plant-7&hwRev=3&attrUnknown=prod&attrGamer=gold&attr=prod', [['os_armv8', 'prod 200 1.1.0 channel']]],
    [
      'among flags, the highest target wins',
      'cpuArch=armv8&attrGamer=prod&attrCamera=beta',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['scoreboard', 'prod 200 1.0.0 channel'],
        ['videoStreamer', 'beta 200 0.1.2 channel'],
      ],
    ],
    [
      'an explicit component key beats flags',
      'cpuArch=armv8&attrCamera=beta&videoStreamer=prod',
      [
        ['os_armv8', 'prod 200 1.1.0 channel'],
        ['videoStreamer', 'prod 200 0.0.1 channel'],
      ],
    ],
    ['an explicit component key beats cpuArch/os', 'cpuArch=armv8&os=prod&os_armv8=beta', [['os_armv8', 'beta 200 2.0.0 channel']]],
    [
      'another OS can be named explicitly',
      'cpuArch=armv8&os_armv7=prod',
      [
        ['os_armv7', 'prod 200 1.0.0 channel'],
        ['os_armv8', 'prod 200 1.1.0 channel'],
      ],
    ],
    [
      'ipModule through its flag',
      'cpuArch=armv8&attrAlarmPanel=prod',
      [
        ['ipModule', 'prod 200 6.15.008 channel'],
        ['os_armv8', 'prod 200 1.1.0 channel'],
      ],
    ],
  ])('%s', (_name, query, expected) => {
    expect(brief(resolved(query))).toEqual(expected);
  });

  it('breaks a tie between flag selections with equal targets by channel name, whatever the order', () => {
    const snapshot = referenceSnapshot();
    snapshot.components.push({
      name: 'camera',
      artifacts: [artifact('camera', '1.0')],
      channels: [
        { name: 'stable', version: '1.0', flags: ['x'], allowDowngrade: false },
        { name: 'Alpha', version: '1.0.0', flags: ['y'], allowDowngrade: false },
      ],
    });
    const index = indexCatalog(snapshot);
    for (const query of ['cpuArch=armv8&attrX=stable&attrY=alpha', 'cpuArch=armv8&attrY=alpha&attrX=stable']) {
      expect(brief(resolved(query, undefined, index))[0]).toEqual(['camera', 'Alpha 200 1.0 channel']);
    }
  });

  it.each([
    ['an unknown cpuArch', 'cpuArch=riscv', 'no component os_riscv (cpuArch=riscv)'],
    ['a missing OS channel', 'cpuArch=armv8&os=Gold', 'component os_armv8 has no channel "Gold"'],
    ['a missing channel of a named component', 'cpuArch=armv8&videostreamer=nightly', 'component videoStreamer has no channel "nightly"'],
    ['a missing channel even when overridden', 'cpuArch=armv8&os=gold&os_armv8=beta', 'component os_armv8 has no channel "gold"'],
    [
      'every missing piece, sorted',
      'scoreboard=gold&cpuArch=riscv&modemFW=beta',
      'component modemFW has no channel "beta"; component scoreboard has no channel "gold"; no component os_riscv (cpuArch=riscv)',
    ],
  ])('is not-found for %s', (_name, query, message) => {
    expect(check(query)).toEqual({ ok: false, code: 'not-found', message });
  });
});

describe('decide: installed binaries', () => {
  const everything = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';

  it('answers 304 for the OS when its md5 is sent and still ships the other three', () => {
    const decision = resolved(everything, `"${md5('os_armv8', '1.1.0')}"`);
    expect(decision.status).toBe(200);
    expect(brief(decision)).toEqual([
      ['modemFW', 'prod 200 1.0 channel'],
      ['os_armv8', 'prod 304 1.1.0 installed'],
      ['scoreboard', 'prod 200 1.0.0 channel'],
      ['videoStreamer', 'prod 200 0.0.1 channel'],
    ]);
  });

  it('answers 304 overall when every selected binary is installed', () => {
    const header = [`W/"${md5('os_armv8', '1.1.0')}"`, sha256('scoreboard', '1.0.0').toUpperCase(), ` ${md5('videoStreamer', '0.0.1')} `, `"${sha256('modemFW', '1.0')}",`].join(
      ',',
    );
    const decision = resolved(everything, header);
    expect(decision.status).toBe(304);
    expect(decision.components.map((c) => `${c.component} ${c.statusCode} ${c.reason} ${c.installedFrom}`)).toEqual([
      'modemFW 304 installed hash',
      'os_armv8 304 installed hash',
      'scoreboard 304 installed hash',
      'videoStreamer 304 installed hash',
    ]);
  });

  const ipModule = 'cpuArch=armv8&attrAlarmPanel=prod';
  it.each<[string, string, string | undefined, string, string]>([
    ['hash of 5.6.14 → bridge 5.6.30', '', md5('ipModule', '5.6.14'), '200 5.6.30 bridge-required', '5.6.14'],
    ['hash of 5.6.9 → bridge 5.6.30', '', sha256('ipModule', '5.6.9'), '200 5.6.30 bridge-required', '5.6.9'],
    ['hash of 5.6.30 → 6.15.008', '', md5('ipModule', '5.6.30'), '200 6.15.008 channel', '5.6.30'],
    ['hash of 6.15.008 → 304', '', md5('ipModule', '6.15.008'), '304 6.15.008 installed', '6.15.008'],
    ['installed=ipModule@5.6.14 → bridge 5.6.30', '&installed=ipModule@5.6.14', undefined, '200 5.6.30 bridge-required', '5.6.14'],
    ['installed=ipModule@5.6.9 → bridge 5.6.30', '&installed=ipModule@5.6.9', undefined, '200 5.6.30 bridge-required', '5.6.9'],
    ['installed=ipModule@5.6.30 → 6.15.008', '&installed=ipModule@5.6.30', undefined, '200 6.15.008 channel', '5.6.30'],
    ['installed=ipModule@6.15.8 → 304 (same version key)', '&installed=IPMODULE@6.15.8', undefined, '304 6.15.008 installed', '6.15.008'],
    ['a version the catalog lacks, below the bridge', '&installed=ipModule@5.6.20', undefined, '200 5.6.30 bridge-required', '5.6.20'],
    ['a version the catalog lacks, past the bridge', '&installed=ipModule@v6.0', undefined, '200 6.15.008 channel', 'v6.0'],
    ['the hash wins over a declared version', '&installed=ipModule@5.6.9', md5('ipModule', '5.6.30'), '200 6.15.008 channel', '5.6.30'],
    ['the highest of several hashes counts', '', `${md5('ipModule', '5.6.30')},${md5('ipModule', '5.6.9')}`, '200 6.15.008 channel', '5.6.30'],
    ["another component's hash says nothing about ipModule", '', md5('scoreboard', '1.0.0'), '200 6.15.008 channel', 'unknown'],
  ])('%s', (_name, extra, header, expected, installedVersion) => {
    const decision = resolved(ipModule + extra, header);
    const ip = decision.components.find((c) => c.component === 'ipModule')!;
    expect(`${ip.statusCode} ${ip.latestVersion} ${ip.reason}`).toBe(expected);
    expect(ip.targetVersion).toBe('6.15.008');
    expect(ip.installedVersion ?? 'unknown').toBe(installedVersion);
    expect(ip.offered?.version).toBe(ip.statusCode === 200 ? ip.latestVersion : undefined);
  });

  it('offers nothing when no artifact bridges the gap', () => {
    const snapshot = referenceSnapshot();
    const ip = snapshot.components.find((c) => c.name === 'ipModule')!;
    ip.artifacts = ip.artifacts.filter((a) => a.version !== '5.6.30');
    const decision = resolved(`${ipModule}&installed=ipModule@5.6.14`, undefined, indexCatalog(snapshot));
    expect(decision.status).toBe(200);
    expect(decision.components.find((c) => c.component === 'ipModule')).toEqual({
      component: 'ipModule',
      channel: 'prod',
      statusCode: 304,
      reason: 'no-upgrade-path',
      latestVersion: '5.6.14',
      targetVersion: '6.15.008',
      installedVersion: '5.6.14',
      installedArtifact: artifact('ipModule', '5.6.14'),
      installedFrom: 'declared',
    });
  });

  it.each<[string, boolean, string, string]>([
    ['stays ahead of its channel without allowDowngrade', false, '&installed=os_armv8@2.0.0', 'prod 304 2.0.0 ahead-of-channel'],
    ['is sent back to the channel with allowDowngrade', true, '&installed=os_armv8@2.0.0', 'prod 200 1.1.0 downgrade'],
    ['is sent back from an unknown higher version with allowDowngrade', true, '&installed=os_armv8@9', 'prod 200 1.1.0 downgrade'],
    ['keeps an unknown higher version without allowDowngrade', false, '&installed=os_armv8@9', 'prod 304 9 ahead-of-channel'],
    ['is not moved when on the target, downgrade or not', true, '&installed=os_armv8@1.1', 'prod 304 1.1.0 installed'],
  ])('a device above the target %s', (_name, allowDowngrade, extra, expected) => {
    const snapshot = referenceSnapshot();
    snapshot.components.find((c) => c.name === 'os_armv8')!.channels.forEach((ch) => (ch.allowDowngrade = allowDowngrade));
    const decision = resolved(`cpuArch=armv8${extra}`, undefined, indexCatalog(snapshot));
    expect(brief(decision)).toEqual([['os_armv8', expected]]);
    expect(decision.status).toBe(expected.includes(' 200 ') ? 200 : 304);
  });

  it('never offers a version below the installed one on the way to the target', () => {
    const snapshot = referenceSnapshot();
    const ip = snapshot.components.find((c) => c.name === 'ipModule')!;
    ip.artifacts = ip.artifacts.filter((a) => a.version !== '5.6.30');
    const decision = resolved(`${ipModule}&installed=ipModule@5.6.20`, undefined, indexCatalog(snapshot));
    expect(brief(decision)[0]).toEqual(['ipModule', 'prod 304 5.6.20 no-upgrade-path']);
    expect(decision.components[0].installedArtifact).toBeUndefined();
  });
});

describe('decide: rollouts', () => {
  const tenPercent: CatalogRollout = { id: 'r1', component: 'OS_ARMV8', channel: 'Prod', version: '2.0.0', selectors: {}, percent: 10 };
  const inside = 'dev-5';
  const outside = 'dev-2';

  it('uses devices whose cohorts straddle 10 %', () => {
    expect([cohortOf(inside), cohortOf(outside)]).toEqual([3, 46]);
  });

  it.each<[string, CatalogRollout, string, string]>([
    ['cohort 5 is in at 10 %', tenPercent, 'cohort=5', 'prod 200 2.0.0 rollout'],
    ['cohort 9 is in at 10 %', tenPercent, 'cohort=9', 'prod 200 2.0.0 rollout'],
    ['cohort 10 is out at 10 %', tenPercent, 'cohort=10', 'prod 200 1.1.0 channel'],
    ['cohort 70 is out at 10 %', tenPercent, 'cohort=70', 'prod 200 1.1.0 channel'],
    ['no cohort is out at 10 %', tenPercent, '', 'prod 200 1.1.0 channel'],
    ['no cohort is in at 100 %', { ...tenPercent, percent: 100 }, '', 'prod 200 2.0.0 rollout'],
    ['cohort 0 is out at 0 %', { ...tenPercent, percent: 0 }, 'cohort=0', 'prod 200 1.1.0 channel'],
    ['a deviceId in a low cohort is in', tenPercent, `deviceId=${inside}`, 'prod 200 2.0.0 rollout'],
    ['a deviceId in a high cohort is out', tenPercent, `deviceId=${outside}`, 'prod 200 1.1.0 channel'],
    ['an explicit cohort wins over the deviceId', tenPercent, `deviceId=${outside}&cohort=3`, 'prod 200 2.0.0 rollout'],
    ['matching selectors let the device in', { ...tenPercent, selectors: { Site: 'Plant-7' } }, 'cohort=5&SITE=plant-7', 'prod 200 2.0.0 rollout'],
    ['a different selector value keeps it out', { ...tenPercent, selectors: { site: 'plant-7' } }, 'cohort=5&site=plant-8', 'prod 200 1.1.0 channel'],
    ['a missing selector attribute keeps it out', { ...tenPercent, selectors: { site: 'plant-7' } }, 'cohort=5', 'prod 200 1.1.0 channel'],
    ['every selector must match', { ...tenPercent, selectors: { site: 'plant-7', hwRev: '3' } }, 'cohort=5&site=plant-7&hwRev=2', 'prod 200 1.1.0 channel'],
    ['a rollout on another channel does nothing', { ...tenPercent, channel: 'beta', version: '1.1.0' }, 'cohort=5', 'prod 200 1.1.0 channel'],
  ])('%s', (_name, rollout, query, expected) => {
    const decision = resolved(`cpuArch=armv8${query ? `&${query}` : ''}`, undefined, withRollouts([rollout]));
    expect(brief(decision)).toEqual([['os_armv8', expected]]);
    expect(decision.components[0].rolloutId).toBe(expected.endsWith('rollout') ? 'r1' : undefined);
    expect(decision.components[0].targetVersion).toBe(expected.endsWith('rollout') ? '2.0.0' : '1.1.0');
  });

  it('keeps the rollout id on a 304 and on a bridge', () => {
    const index = withRollouts([tenPercent, { id: 'ip', component: 'ipModule', channel: 'prod', version: '6.15.008', selectors: {}, percent: 100 }]);
    const decision = resolved(`cpuArch=armv8&attrAlarmPanel=prod&cohort=1&installed=os_armv8@2,ipModule@5.6.9`, undefined, index);
    expect(decision.components.map((c) => [c.component, c.reason, c.rolloutId])).toEqual([
      ['ipModule', 'bridge-required', 'ip'],
      ['os_armv8', 'installed', 'r1'],
    ]);
  });

  it('prefers the highest version, then the lowest id, among rollouts that include the device', () => {
    const snapshot = referenceSnapshot();
    snapshot.components.find((c) => c.name === 'os_armv8')!.artifacts.push(artifact('os_armv8', '1.5'));
    const index = withRollouts(
      [
        { id: 'b', component: 'os_armv8', channel: 'prod', version: '1.5', selectors: {}, percent: 100 },
        { id: 'z', component: 'os_armv8', channel: 'prod', version: '2.0.0', selectors: { site: 'x' }, percent: 100 },
        { id: 'a', component: 'os_armv8', channel: 'prod', version: '1.5', selectors: {}, percent: 100 },
      ],
      snapshot,
    );
    expect(resolved('cpuArch=armv8', undefined, index).components[0].rolloutId).toBe('a');
    expect(resolved('cpuArch=armv8&site=x', undefined, index).components[0].rolloutId).toBe('z');
  });

  it.each([
    ['in', 20, 'prod 200 0.2.0 rollout'],
    ['out of', 70, 'beta 200 0.1.2 channel'],
  ])('compares flag selections by their target after rollouts (device %s the rollout)', (_name, cohort, expected) => {
    const snapshot = referenceSnapshot();
    snapshot.components.find((c) => c.name === 'videoStreamer')!.artifacts.push(artifact('videoStreamer', '0.2.0'));
    const index = withRollouts([{ id: 'v', component: 'videoStreamer', channel: 'prod', version: '0.2.0', selectors: {}, percent: 50 }], snapshot);
    const decision = resolved(`cpuArch=armv8&attrCamera=beta&attrGamer=prod&cohort=${cohort}`, undefined, index);
    expect(brief(decision).find(([name]) => name === 'videoStreamer')).toEqual(['videoStreamer', expected]);
  });
});

describe(decisionEtag.name, () => {
  it('is stable for equal decisions and changes with what the device would act on', () => {
    const a = resolved('cpuArch=armv8&attrGamer=prod');
    const etag = decisionEtag(a, 'fullPayload');
    expect(etag).toMatch(/^d-[0-9a-f]{32}$/);
    expect(decisionEtag(resolved('attrgamer=PROD&CPUARCH=armv8'), 'fullPayload')).toBe(etag);
    expect(decisionEtag(a, 'metadataOnly')).not.toBe(etag);
    expect(decisionEtag(resolved('cpuArch=armv8&attrGamer=prod', md5('scoreboard', '1.0.0')), 'fullPayload')).not.toBe(etag);
    expect(decisionEtag(resolved('cpuArch=armv8&attrGamer=prod&os=beta'), 'fullPayload')).not.toBe(etag);
  });

  it('is read back from If-None-Match', () => {
    const etag = decisionEtag(resolved('cpuArch=armv8'), 'metadataOnly');
    const request = parseDeviceQuery({ cpuArch: 'armv8' }, `W/"${etag.toUpperCase().replace('D-', 'd-')}", *`);
    expect(request.decisionEtags).toEqual([etag]);
    expect(request.hashes).toEqual([]);
  });
});
