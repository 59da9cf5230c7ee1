import fc from 'fast-check';
import { indexCatalog, type CatalogArtifact } from './catalog';
import { decide, type ComponentDecision } from './decision';
import { parseDeviceQuery } from './device-request';
import { artifact, referenceSnapshot } from './testing/reference-catalog';
import { compareVersionStrings } from './version';

const version = fc.tuple(fc.nat(3), fc.nat(3), fc.nat(3)).map((parts) => parts.join('.'));

/** One component `os_p` with random versions, random bridge constraints and a random channel target. */
const scenario = fc.uniqueArray(version, { minLength: 1, maxLength: 8 }).chain((versions) =>
  fc.record({
    artifacts: fc.tuple(...versions.map((v) => fc.option(version, { nil: undefined }).map((requiresFrom) => artifact('os_p', v, requiresFrom)))),
    target: fc.constantFrom(...versions),
    start: fc.oneof(fc.constantFrom(...versions), version),
    byHash: fc.boolean(),
  }),
);

/** Whether some chain of allowed hops leads from `start` to `target`, found by plain search. */
function reachable(artifacts: readonly CatalogArtifact[], start: string, target: string): boolean {
  const seen = new Set<string>();
  const frontier = [start];
  while (frontier.length > 0) {
    const from = frontier.pop()!;
    if (compareVersionStrings(from, target) === 0) return true;
    for (const a of artifacts) {
      const hop =
        compareVersionStrings(a.version, from) > 0 && compareVersionStrings(a.version, target) <= 0 && (a.requiresFrom == null || compareVersionStrings(a.requiresFrom, from) <= 0);
      if (hop && !seen.has(a.version)) {
        seen.add(a.version);
        frontier.push(a.version);
      }
    }
  }
  return false;
}

describe('decide: properties', () => {
  it('walks a device to its target through every required bridge, never backwards, and stops', () => {
    fc.assert(
      fc.property(scenario, ({ artifacts, target, start, byHash }) => {
        const index = indexCatalog({
          revision: 'p',
          components: [{ name: 'os_p', artifacts, channels: [{ name: 'prod', version: target, flags: [], allowDowngrade: false }] }],
          rollouts: [],
        });
        const byVersion = new Map(artifacts.map((a) => [a.version, a]));
        let installed = start;
        let last: ComponentDecision;
        for (let hops = 0; ; hops++) {
          // A device knowing its binary sends the hash; otherwise it declares the version.
          const known = byVersion.get(installed);
          const request = byHash && known ? parseDeviceQuery({ cpuArch: 'p' }, `"${known.md5}"`) : parseDeviceQuery({ cpuArch: 'p', installed: `os_p@${installed}` }, undefined);
          const decision = decide(index, request);
          if (!decision.ok) throw new Error(decision.message);
          last = decision.components[0];
          if (last.statusCode === 304) break;

          const offered = last.offered!;
          expect(hops).toBeLessThan(artifacts.length);
          expect(compareVersionStrings(offered.version, installed)).toBeGreaterThan(0);
          expect(compareVersionStrings(offered.version, target)).toBeLessThanOrEqual(0);
          if (offered.requiresFrom != null) expect(compareVersionStrings(offered.requiresFrom, installed)).toBeLessThanOrEqual(0);
          expect(last.reason).toBe(offered.version === target ? 'channel' : 'bridge-required');
          installed = offered.version;
        }

        if (compareVersionStrings(start, target) > 0) {
          expect(last.reason).toBe('ahead-of-channel');
          expect(installed).toBe(start);
        } else if (reachable(artifacts, start, target)) {
          expect(last.reason).toBe('installed');
          expect(compareVersionStrings(installed, target)).toBe(0);
        } else {
          expect(last.reason).toBe('no-upgrade-path');
          expect(compareVersionStrings(installed, target)).toBeLessThan(0);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('does not depend on the order or the case of query keys, nor on the order of hashes', () => {
    const snapshot = referenceSnapshot();
    snapshot.components.find((c) => c.name === 'scoreboard')!.channels[0].flags.push('camera');
    snapshot.rollouts.push({
      id: 'r',
      component: 'scoreboard',
      channel: 'prod',
      version: '2.0.0',
      selectors: { site: 'plant-7' },
      percent: 50,
    });
    const index = indexCatalog(snapshot);
    const allHashes = snapshot.components.flatMap((c) => c.artifacts.flatMap((a) => [a.md5, a.sha256]));

    const channel = fc.constantFrom('prod', 'beta', 'Beta', 'gold');
    const optional = {
      os: channel,
      attrGamer: channel,
      attrCamera: channel,
      attrCellular: channel,
      attrAlarmPanel: channel,
      videoStreamer: channel,
      scoreboard: channel,
      os_armv7: channel,
      site: fc.constantFrom('plant-7', 'PLANT-7', 'plant-8'),
      cohort: fc.constantFrom('3', '70'),
      installed: fc.constantFrom('ipModule@5.6.14', 'scoreboard@1.0,ipModule@5.6.30', 'os_armv8@1.1'),
    };
    const query = fc
      .record({ cpuArch: fc.constantFrom('armv8', 'ARMv7', 'riscv'), ...optional }, { requiredKeys: ['cpuArch'] })
      // Keys left out by fc.record are absent, not undefined.
      .map((record): Array<[string, string]> => Object.entries(record));
    const shuffled = <T>(items: T[]) => fc.shuffledSubarray(items, { minLength: items.length, maxLength: items.length });
    const recased = (entries: Array<[string, string]>) =>
      fc.tuple(...entries.map(([key, value]) => fc.constantFrom(key, key.toUpperCase(), key.toLowerCase()).map((k) => [k, value] as const)));

    const pair = fc.tuple(query, fc.subarray(allHashes, { maxLength: 6 })).chain(([entries, hashes]) =>
      fc.record({
        first: fc.tuple(shuffled(entries), shuffled(hashes)),
        second: fc.tuple(shuffled(entries).chain(recased), shuffled(hashes)),
      }),
    );

    fc.assert(
      fc.property(pair, ({ first, second }) => {
        const a = decide(index, parseDeviceQuery(Object.fromEntries(first[0]), first[1].join(',')));
        const b = decide(index, parseDeviceQuery(Object.fromEntries(second[0]), second[1].map((h) => `W/"${h.toUpperCase()}"`).join(', ')));
        expect(b).toEqual(a);
      }),
      { numRuns: 1000 },
    );
  });
});
