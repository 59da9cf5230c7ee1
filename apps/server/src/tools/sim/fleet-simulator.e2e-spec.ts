import { startTestApp, type TestApp } from '@test/support/app';
import { getJson } from '@test/support/http';
import { loadSampleData } from '@test/support/sample';
import { until } from '@test/support/wait';
import { MqttService } from '../../mqtt/mqtt.service';
import { FleetSimulator } from './fleet-simulator';

describe(FleetSimulator.name, () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp();
    await loadSampleData(appliance.url, 16 * 1024);
  });

  afterAll(async () => appliance.dispose());

  it('brings devices through their offers over MQTT, bridges included, verifying every download', async () => {
    const fleet = new FleetSimulator({
      devices: 12,
      mqttUrl: `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`,
      httpUrl: appliance.url,
      rate: 50,
      attributes: { cpuArch: 'armv8', attrAlarmpanel: 'prod' },
      failRate: 0,
      idPrefix: 'simtest-',
      download: true,
    });
    try {
      await fleet.start();
      // Each device installs os_armv8 1.1.0, then ipModule: no version installed yet means the target directly.
      await until(async () => fleet.counters.installed >= 24, Boolean, 20_000);
      expect(fleet.counters).toMatchObject({ connected: 12, installed: 24, failed: 0, hashMismatches: 0, errors: 0 });
      expect(fleet.counters.downloads).toBe(24);
    } finally {
      await fleet.stop();
    }
    // The appliance records "last seen", inventory and statuses in the background.
    const device = await until(
      () => getJson(`${appliance.url}/api/v1/devices/simtest-000003`),
      (answer) =>
        answer.body?.installed?.length === 2 &&
        Object.keys(answer.body.attributes ?? {}).length > 0 &&
        ['downloading', 'downloaded', 'installing', 'installed'].every((state) => answer.body.history?.some((r: { state: string }) => r.state === state)),
    );
    expect(device.body.installed).toEqual([
      expect.objectContaining({ component: 'ipModule', version: '6.15.008' }),
      expect.objectContaining({ component: 'os_armv8', version: '1.1.0' }),
    ]);
    expect(device.body.history.map((r: { state: string }) => r.state)).toEqual(expect.arrayContaining(['downloading', 'downloaded', 'installing', 'installed']));
    expect(device.body.attributes).toEqual({ cpuArch: 'armv8', attrAlarmpanel: 'prod' });
  });

  it('makes the chosen share of devices fail, the same devices every time, over HTTP', async () => {
    const options = { devices: 40, httpUrl: appliance.url, rate: 200, attributes: { cpuArch: 'armv7' }, failRate: 0.25, idPrefix: 'simfail-', download: false };
    const fleet = new FleetSimulator(options);
    await fleet.start();
    await until(async () => fleet.counters.installed + fleet.counters.failed >= 40, Boolean, 20_000);
    expect(fleet.counters.installed + fleet.counters.failed).toBe(40);
    expect(fleet.counters.failed).toBeGreaterThan(3);
    expect(fleet.counters.failed).toBeLessThan(20);
    const again = new FleetSimulator(options);
    await again.start();
    await until(async () => again.counters.installed + again.counters.failed >= 40, Boolean, 20_000);
    expect(again.counters.failed).toBe(fleet.counters.failed);
  });
});
