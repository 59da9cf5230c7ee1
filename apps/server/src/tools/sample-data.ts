/** The reference sample data set: what the seed documents walk through. */
export interface SampleComponent {
  component: string;
  versions: { version: string; requiresFrom?: string }[];
  channels: { channel: string; version: string; attributes: string[] }[];
}

export const SAMPLE_DATA: SampleComponent[] = [
  {
    component: 'os_armv8',
    versions: [{ version: '1.1.0' }, { version: '2.0.0' }],
    channels: [
      { channel: 'prod', version: '1.1.0', attributes: [] },
      { channel: 'beta', version: '2.0.0', attributes: [] },
    ],
  },
  {
    component: 'os_armv7',
    versions: [{ version: '1.0.0' }, { version: '2.0.0' }],
    channels: [
      { channel: 'prod', version: '1.0.0', attributes: [] },
      { channel: 'beta', version: '2.0.0', attributes: [] },
    ],
  },
  {
    component: 'scoreboard',
    versions: [{ version: '1.0.0' }, { version: '2.0.0' }],
    channels: [
      { channel: 'prod', version: '1.0.0', attributes: ['gamer'] },
      { channel: 'beta', version: '2.0.0', attributes: ['gamer'] },
    ],
  },
  {
    component: 'videoStreamer',
    versions: [{ version: '0.0.1' }, { version: '0.1.2' }],
    channels: [
      { channel: 'prod', version: '0.0.1', attributes: ['camera', 'gamer'] },
      { channel: 'beta', version: '0.1.2', attributes: ['camera'] },
    ],
  },
  {
    component: 'modemFW',
    versions: [{ version: '1.0' }],
    channels: [{ channel: 'prod', version: '1.0', attributes: ['cellular'] }],
  },
  {
    component: 'ipModule',
    versions: [{ version: '5.6.9' }, { version: '5.6.14' }, { version: '5.6.30' }, { version: '6.15.008', requiresFrom: '5.6.30' }],
    channels: [{ channel: 'prod', version: '6.15.008', attributes: ['alarmpanel'] }],
  },
];
