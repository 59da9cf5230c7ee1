import { startTestApp, type TestApp } from '@test/support/app';
import { connectDevice, endAll, nextMessage, subscribe } from '@test/support/mqtt';
import { testRedisUrl, uniqueRedisPrefix } from '@test/support/redis';
import { AnnounceService } from './announce.service';
import { MqttService } from './mqtt.service';

describe('MQTT across two appliance replicas sharing PostgreSQL and Redis', () => {
  let first: TestApp;
  let second: TestApp;
  const mqttUrl = (appliance: TestApp) => `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`;
  const announcement = (version: string) => ({ component: 'os_armv8', channel: 'prod', version, selectors: {}, maxCohort: 100, jitterSeconds: 0 });

  beforeAll(async () => {
    first = await startTestApp({ env: { REDIS_URL: testRedisUrl, REDIS_PREFIX: uniqueRedisPrefix() } });
    second = await startTestApp({ replicaOf: first });
  });

  afterAll(async () => {
    await second.stop();
    await first.dispose();
  });

  it('delivers an announcement published on one replica to a device connected to the other', async () => {
    const device = await connectDevice(mqttUrl(first), 'replica-dev-1');
    try {
      await subscribe(device, 'ota/v1/announce');
      const received = nextMessage(device, 'ota/v1/announce');
      await second.app.get(AnnounceService).announce(announcement('3.0.0'));
      expect(await received).toEqual(announcement('3.0.0'));
    } finally {
      await endAll(device);
    }
  });

  it('keeps a QoS 1 session across a reconnect to the other replica', async () => {
    const session = { clean: false };
    const before = await connectDevice(mqttUrl(first), 'replica-dev-2', session);
    await subscribe(before, 'ota/v1/announce');
    await endAll(before);

    await second.app.get(AnnounceService).announce(announcement('3.1.0'));

    const after = await connectDevice(mqttUrl(second), 'replica-dev-2', session);
    try {
      const queued = await nextMessage(after, 'ota/v1/announce');
      expect(queued).toEqual(announcement('3.1.0'));
    } finally {
      await endAll(after);
    }
  });
});
