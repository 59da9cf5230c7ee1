import { createHash } from 'node:crypto';
import type { CatalogArtifact, CatalogSnapshot } from '../catalog';

/**
 * A fake artifact whose hashes are derived from `component@version`, so tests can compute them too.
 * Test helper: not exported from the library's index.
 */
export function artifact(component: string, version: string, requiresFrom?: string): CatalogArtifact {
  const content = `${component}@${version}`;
  return {
    version,
    sha256: createHash('sha256').update(content).digest('hex'),
    md5: createHash('md5').update(content).digest('hex'),
    size: 1000 + content.length,
    ...(requiresFrom !== undefined && { requiresFrom }),
  };
}

/** The seed's reference data set (ARCHITECTURE "How a device check is decided"), with no rollouts. */
export function referenceSnapshot(): CatalogSnapshot {
  return {
    revision: 'reference',
    components: [
      {
        name: 'os_armv8',
        artifacts: [artifact('os_armv8', '1.1.0'), artifact('os_armv8', '2.0.0')],
        channels: [
          { name: 'beta', version: '2.0.0', flags: [], allowDowngrade: false },
          { name: 'prod', version: '1.1.0', flags: [], allowDowngrade: false },
        ],
      },
      {
        name: 'os_armv7',
        artifacts: [artifact('os_armv7', '1.0.0'), artifact('os_armv7', '2.0.0')],
        channels: [
          { name: 'beta', version: '2.0.0', flags: [], allowDowngrade: false },
          { name: 'prod', version: '1.0.0', flags: [], allowDowngrade: false },
        ],
      },
      {
        name: 'scoreboard',
        artifacts: [artifact('scoreboard', '1.0.0'), artifact('scoreboard', '2.0.0')],
        channels: [
          { name: 'beta', version: '2.0.0', flags: ['gamer'], allowDowngrade: false },
          { name: 'prod', version: '1.0.0', flags: ['gamer'], allowDowngrade: false },
        ],
      },
      {
        name: 'videoStreamer',
        artifacts: [artifact('videoStreamer', '0.0.1'), artifact('videoStreamer', '0.1.2')],
        channels: [
          { name: 'beta', version: '0.1.2', flags: ['camera'], allowDowngrade: false },
          { name: 'prod', version: '0.0.1', flags: ['camera', 'gamer'], allowDowngrade: false },
        ],
      },
      {
        name: 'modemFW',
        artifacts: [artifact('modemFW', '1.0')],
        channels: [{ name: 'prod', version: '1.0', flags: ['cellular'], allowDowngrade: false }],
      },
      {
        name: 'ipModule',
        artifacts: [artifact('ipModule', '5.6.9'), artifact('ipModule', '5.6.14'), artifact('ipModule', '5.6.30'), artifact('ipModule', '6.15.008', '5.6.30')],
        channels: [{ name: 'prod', version: '6.15.008', flags: ['alarmpanel'], allowDowngrade: false }],
      },
    ],
    rollouts: [],
  };
}
