import { CatalogError, indexCatalog, type CatalogSnapshot } from './catalog';
import { artifact, referenceSnapshot } from './testing/reference-catalog';

function problemsOf(snapshot: CatalogSnapshot): readonly string[] {
  try {
    indexCatalog(snapshot);
  } catch (error) {
    if (error instanceof CatalogError) return error.problems;
    throw error;
  }
  return [];
}

function mutated(change: (snapshot: CatalogSnapshot) => void): CatalogSnapshot {
  const snapshot = referenceSnapshot();
  change(snapshot);
  return snapshot;
}

const ip = (s: CatalogSnapshot) => s.components.find((c) => c.name === 'ipModule')!;

describe(indexCatalog.name, () => {
  it('sorts artifacts by version and ranks components by name', () => {
    const snapshot = mutated((s) => ip(s).artifacts.reverse());
    const index = indexCatalog(snapshot);
    expect(index.components.get('ipmodule')!.artifacts.map((a) => a.artifact.version)).toEqual(['5.6.9', '5.6.14', '5.6.30', '6.15.008']);
    expect([...index.components.values()].sort((a, b) => a.order - b.order).map((c) => c.name)).toEqual([
      'ipModule',
      'modemFW',
      'os_armv7',
      'os_armv8',
      'scoreboard',
      'videoStreamer',
    ]);
  });

  it('finds artifacts by either hash in any case, and channels by flag', () => {
    const index = indexCatalog(referenceSnapshot());
    const component = index.components.get('ipmodule')!;
    const a = artifact('ipModule', '5.6.30');
    expect(component.byHash.get(a.md5)?.artifact.version).toBe('5.6.30');
    expect(component.byHash.get(a.sha256)?.artifact.version).toBe('5.6.30');
    const flagged = (flag: string, channel: string) => (index.flagged.get(flag)?.get(channel) ?? []).map((f) => f.component.name).sort();
    expect(flagged('gamer', 'prod')).toEqual(['scoreboard', 'videoStreamer']);
    expect(flagged('camera', 'beta')).toEqual(['videoStreamer']);
    expect(flagged('gamer', 'beta')).toEqual(['scoreboard']);
  });

  it('maps a hash shared by two versions to the higher one', () => {
    const index = indexCatalog(
      mutated((s) => {
        const copy = { ...artifact('ipModule', '5.6.30'), version: '5.6.31' };
        ip(s).artifacts.unshift(copy);
      }),
    );
    expect(index.components.get('ipmodule')!.byHash.get(artifact('ipModule', '5.6.30').md5)?.artifact.version).toBe('5.6.31');
  });

  it.each<[string, (s: CatalogSnapshot) => void, string]>([
    ['an unparsable version', (s) => ip(s).artifacts.push(artifact('ipModule', 'latest')), 'ipModule@latest: the version cannot be parsed'],
    ['an unparsable requiresFrom', (s) => ip(s).artifacts.push(artifact('ipModule', '7', 'six')), 'ipModule@7: requiresFrom "six" cannot be parsed'],
    ['a bad md5', (s) => ip(s).artifacts.push({ ...artifact('ipModule', '7'), md5: 'x' }), 'ipModule@7: md5 is not 32 hex digits'],
    ['a bad sha256', (s) => ip(s).artifacts.push({ ...artifact('ipModule', '7'), sha256: 'x' }), 'ipModule@7: sha256 is not 64 hex digits'],
    ['one version twice', (s) => ip(s).artifacts.push(artifact('ipModule', '6.15.8')), 'ipModule@6.15.8: the same version as 6.15.008'],
    ['one component twice', (s) => s.components.push({ name: 'IPMODULE', artifacts: [], channels: [] }), 'component IPMODULE is listed twice (names are case-insensitive)'],
    [
      'one channel twice',
      (s) => ip(s).channels.push({ name: 'PROD', version: '5.6.9', flags: [], allowDowngrade: false }),
      'ipModule: channel PROD is listed twice (names are case-insensitive)',
    ],
    ['a channel without its artifact', (s) => (ip(s).channels[0].version = '7'), 'ipModule/prod: no artifact for version 7'],
    ['a rollout on an unknown component', (s) => s.rollouts.push(rollout({ component: 'nope' })), 'rollout r (nope/prod@5.6.30): no such component'],
    ['a rollout on an unknown channel', (s) => s.rollouts.push(rollout({ channel: 'beta' })), 'rollout r (ipModule/beta@5.6.30): no such channel'],
    ['a rollout without its artifact', (s) => s.rollouts.push(rollout({ version: '7' })), 'rollout r (ipModule/prod@7): no artifact for version 7'],
    ['a rollout with a NaN percent', (s) => s.rollouts.push(rollout({ percent: NaN })), 'rollout r (ipModule/prod@5.6.30): percent must be a finite number'],
    ['one rollout id twice', (s) => s.rollouts.push(rollout({}), rollout({})), 'rollout r (ipModule/prod@5.6.30): the id is listed twice'],
  ])('refuses %s', (_name, change, problem) => {
    expect(problemsOf(mutated(change))).toEqual([problem]);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf(
      mutated((s) => {
        ip(s).channels[0].version = '7';
        s.rollouts.push(rollout({ component: 'nope' }));
      }),
    );
    expect(problems).toHaveLength(2);
  });
});

function rollout(overrides: Partial<CatalogSnapshot['rollouts'][number]>): CatalogSnapshot['rollouts'][number] {
  return { id: 'r', component: 'ipModule', channel: 'prod', version: '5.6.30', selectors: {}, percent: 10, ...overrides };
}
