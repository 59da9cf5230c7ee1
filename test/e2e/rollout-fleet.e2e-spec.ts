import { DataSource } from 'typeorm';
import { createHash } from 'node:crypto';
import { MqttService } from '../../apps/server/src/mqtt/mqtt.service';
import { FleetSimulator } from '../../apps/server/src/tools/sim/fleet-simulator';
import { startTestApp, type TestApp } from '../support/app';
import { getJson, sendJson, upload } from '../support/http';
import { until } from '../support/wait';

const DEVICES = 1000;
const FAIL_RATE = 0.05;

/** The simulator's own rule for which devices fail (a stable hash of the id). */
const fails = (id: string) => createHash('sha256').update(`fail:${id}`).digest().readUInt32BE(0) / 2 ** 32 < FAIL_RATE;

describe('a simulated fleet of 1,000 MQTT devices, 5 % of which fail every install', () => {
  let appliance: TestApp;
  let fleet: FleetSimulator;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { ROLLOUT_TICK_SECONDS: '1', MQTT_MAX_PUBLISH_PER_SECOND: '50' } });
    for (const version of ['1.0.0', '2.0.0', '3.0.0']) await upload(appliance.url, 'os_armv8', version, Buffer.from(`os ${version}`));
    await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });
    fleet = new FleetSimulator({
      devices: DEVICES,
      mqttUrl: `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`,
      httpUrl: appliance.url,
      rate: 250,
      attributes: { cpuArch: 'armv8' },
      failRate: FAIL_RATE,
      idPrefix: 'fleet-',
      download: true,
    });
    await fleet.start();
    await until(
      async () => fleet.counters.installed + fleet.counters.failed,
      (n) => n >= DEVICES,
      60_000,
    );
  }, 120_000);

  afterAll(async () => {
    await fleet?.stop();
    await appliance.dispose();
  });

  const rollout = async (id: string) => (await getJson(`${appliance.url}/api/v1/rollouts/${id}`)).body;
  const phases = [
    { percent: 10, holdSeconds: 0 },
    { percent: 50, holdSeconds: 0 },
    { percent: 100, holdSeconds: 0 },
  ];

  it('goes through every phase to completion while failures stay under the limit', async () => {
    const created = await sendJson('POST', `${appliance.url}/api/v1/rollouts`, {
      component: 'os_armv8',
      channel: 'prod',
      version: '2.0.0',
      phases,
      maxFailureRate: 0.15,
      minReports: 20,
      jitterSeconds: 2,
    });
    expect(created.status).toBe(201);
    const done = await until(
      () => rollout(created.body.id),
      (r) => r.state !== 'running',
      120_000,
    );
    expect(done.state).toBe('completed');
    expect(done.history.filter((e: { toState: string }) => e.toState === 'running').map((e: { percent: number }) => e.percent)).toEqual([10, 50, 100]);
    expect(done.counts.failed / ((done.counts.failed ?? 0) + done.counts.installed)).toBeLessThanOrEqual(0.15);
    // After completion the channel points at 2.0.0: every device that can install it ends up on it.
    const healthy = fleet.fleet.filter((device) => !fails(device.id)).length;
    const onNewVersion = () =>
      appliance.app
        .get(DataSource)
        .query(`SELECT count(*)::int AS n FROM device_inventory WHERE component = 'os_armv8' AND version = '2.0.0'`)
        .then((rows: { n: number }[]) => rows[0].n);
    expect(await until(onNewVersion, (n) => n >= healthy, 60_000)).toBe(healthy);
  }, 180_000);

  it('pauses in the phase where the failure rate passes the limit', async () => {
    const created = await sendJson('POST', `${appliance.url}/api/v1/rollouts`, {
      component: 'os_armv8',
      channel: 'prod',
      version: '3.0.0',
      phases,
      maxFailureRate: 0.02,
      minReports: 20,
      jitterSeconds: 2,
    });
    expect(created.status).toBe(201);
    const stopped = await until(
      () => rollout(created.body.id),
      (r) => r.state !== 'running',
      120_000,
    );
    expect(stopped.state).toBe('paused');
    const phaseIndex = stopped.phase - 1;
    expect(stopped.history.at(-1)).toMatchObject({ toState: 'paused', reason: expect.stringContaining(`in phase ${stopped.phase}`) });
    expect(stopped.history.at(-1).reason).toContain('above the limit of 2 %');
    // It stopped where the failures are: the devices this phase invited include failing ones…
    const bounds = [0, ...phases.map((p) => p.percent)];
    const invited = fleet.fleet.filter((d) => d.cohort >= bounds[phaseIndex] && d.cohort < bounds[phaseIndex + 1]);
    expect(invited.filter((d) => fails(d.id)).length).toBeGreaterThan(0);
    expect(stopped.phaseCounts.failed).toBeGreaterThan(0);
    // …and no device beyond it got 3.0.0.
    const [{ n: beyond }] = await appliance.app
      .get(DataSource)
      .query(`SELECT count(*)::int AS n FROM device_inventory WHERE component = 'os_armv8' AND version = '3.0.0' AND device_id = ANY($1)`, [
        fleet.fleet.filter((d) => d.cohort >= phases[phaseIndex].percent).map((d) => d.id),
      ]);
    expect(beyond).toBe(0);
  }, 180_000);
});
