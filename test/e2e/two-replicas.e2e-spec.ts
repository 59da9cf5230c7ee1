import { Queue } from 'bullmq';
import { randomBytes } from 'node:crypto';
import { adminHeaders } from '../support/app';
import { getJson, sendJson, upload } from '../support/http';
import { connectDevice, endAll, nextMessage, subscribe } from '../support/mqtt';
import { createTestDatabase, type TestDatabase } from '../support/postgres';
import { freePort, startBuiltAppliance, type RunningProcess } from '../support/process';
import { testRedisUrl, uniqueRedisPrefix } from '../support/redis';
import { startTestS3, type TestS3 } from '../support/s3';
import { makeTempDir } from '../support/temp-dir';
import { until } from '../support/wait';

type Replica = RunningProcess & { url: string; mqttPort: number };

function metric(text: string, name: string, labelFilter: (labels: string) => boolean = () => true): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .filter((line) => labelFilter(line.slice(name.length, line.lastIndexOf(' '))))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('two appliance processes on one PostgreSQL, Redis and S3', () => {
  const prefix = uniqueRedisPrefix();
  const dataDirs = [makeTempDir(), makeTempDir()];
  let database: TestDatabase;
  let s3: TestS3;
  let replicas: Replica[] = [];

  beforeAll(async () => {
    database = await createTestDatabase();
    s3 = await startTestS3();
    const shared = {
      DATABASE_URL: database.url,
      REDIS_URL: testRedisUrl,
      REDIS_PREFIX: prefix,
      S3_ENDPOINT: s3.endpoint,
      S3_ACCESS_KEY: s3.accessKey,
      S3_SECRET_KEY: s3.secretKey,
      S3_BUCKET: 'two-replicas',
      ADMIN_API_KEY: 'test-admin-key-0123456789',
      ROLLOUT_TICK_SECONDS: '1',
    };
    // Started together, as a rolling deployment would: migrations run once, under the advisory lock.
    replicas = await Promise.all(
      dataDirs.map(async (dir) => {
        const mqttPort = await freePort();
        const replica = await startBuiltAppliance({ ...shared, DATA_DIR: dir.path, MQTT_PORT: String(mqttPort), SIGNING_KEY_FILE: `${dataDirs[0].path}/signing.pem` });
        return { ...replica, mqttPort };
      }),
    );
  }, 120_000);

  afterAll(async () => {
    await Promise.all(replicas.map((replica) => replica.stop()));
    await s3?.stop();
    await database?.drop();
    dataDirs.forEach((dir) => dir.remove());
  });

  it('serves from one replica what was uploaded to the other', async () => {
    const firmware = randomBytes(3 * 1024 * 1024);
    const stored = await upload(replicas[0].url, 'os_armv8', '1.0.0', firmware, { headers: { 'content-length': String(firmware.length) } });
    expect(stored.status).toBe(201);
    const download = await fetch(`${replicas[1].url}/artifacts/${stored.body.sha256}`);
    expect(Buffer.from(await download.arrayBuffer()).equals(firmware)).toBe(true);
  });

  it('shows a catalog change made on one replica to the other’s next check within a second', async () => {
    await upload(replicas[0].url, 'os_armv8', '2.0.0', Buffer.from('two'), { headers: { 'content-length': '3' } });
    const check = async () => ((await (await fetch(`${replicas[1].url}/package?cpuArch=armv8&payloadType=metadataOnly`)).json()) as any).os_armv8?.latestVersion;
    for (const version of ['1.0.0', '2.0.0', '1.0.0']) {
      expect((await sendJson('PUT', `${replicas[0].url}/api/v1/components/os_armv8/channels/prod`, { version })).status).toBeLessThan(300);
      expect(await until(check, (seen) => seen === version, 1000, 10)).toBe(version);
    }
  });

  it('delivers an announcement made on one replica to a device on the other, and evaluates each rollout tick once', async () => {
    const device = await connectDevice(`mqtt://127.0.0.1:${replicas[0].mqttPort}`, 'replica-device');
    let rolloutId: string;
    try {
      await subscribe(device, 'ota/v1/announce');
      const announced = nextMessage(device, 'ota/v1/announce', 10_000);
      const created = await sendJson('POST', `${replicas[1].url}/api/v1/rollouts`, {
        component: 'os_armv8',
        channel: 'prod',
        version: '2.0.0',
        phases: [
          { percent: 20, holdSeconds: 3600 },
          { percent: 100, holdSeconds: 0 },
        ],
        maxFailureRate: 0.1,
        minReports: 5,
        jitterSeconds: 7,
      });
      expect(created.status).toBe(201);
      rolloutId = created.body.id;
      expect(await announced).toEqual({ component: 'os_armv8', channel: 'prod', version: '2.0.0', selectors: {}, maxCohort: 20, jitterSeconds: 7 });
    } finally {
      await endAll(device);
    }

    await until(
      async () => (await getJson(`${replicas[0].url}/api/v1/rollouts/${rolloutId}`)).body.evaluations,
      (evaluations) => evaluations >= 6,
      20_000,
      200,
    );
    await sendJson('POST', `${replicas[0].url}/api/v1/rollouts/${rolloutId}/pause`, undefined);
    const queue = new Queue('rollouts', { connection: { url: testRedisUrl }, prefix: `${prefix}:bull` });
    let rollout;
    try {
      // A tick may have been running when the pause came: wait until none is, and it has been counted.
      const settled = await until(
        async () => ({
          rollout: (await getJson(`${replicas[1].url}/api/v1/rollouts/${rolloutId}`)).body,
          active: await queue.getActiveCount(),
          completed: await queue.getCompletedCount(),
        }),
        (state) => state.active === 0 && state.rollout.evaluations === state.completed + 1,
        5000,
      );
      rollout = settled.rollout;
      expect(rollout.evaluations).toBeGreaterThanOrEqual(6);
      expect(rollout.evaluations).toBe(settled.completed + 1);
    } finally {
      await queue.close();
    }
    const metrics = await Promise.all(replicas.map(async (replica) => (await fetch(`${replica.url}/metrics`, { headers: adminHeaders() })).text()));
    const evaluated = metrics.map((text) => metric(text, 'ota_rollout_evaluations_total', (labels) => !labels.includes('"skipped"')));
    expect(evaluated[0] + evaluated[1]).toBe(rollout.evaluations);
    expect(metrics.map((text) => metric(text, 'ota_rollout_evaluations_total', (labels) => labels.includes('"skipped"')))).toEqual([0, 0]);
  });
});
