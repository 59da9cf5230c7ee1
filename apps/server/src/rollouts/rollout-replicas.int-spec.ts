import { Queue } from 'bullmq';
import { startTestApp, type TestApp } from '../../../../test/support/app';
import { getJson, sendJson, upload } from '../../../../test/support/http';
import { testRedisUrl, uniqueRedisPrefix } from '../../../../test/support/redis';

function metricSum(text: string, name: string, filter: (labels: string) => boolean = () => true): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => filter(line.slice(name.length, line.lastIndexOf(' '))))
    .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe('rollout ticks with two appliance replicas on one PostgreSQL and Redis', () => {
  const prefix = uniqueRedisPrefix();
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    first = await startTestApp({ env: { REDIS_URL: testRedisUrl, REDIS_PREFIX: prefix, ROLLOUT_TICK_SECONDS: '1' } });
    second = await startTestApp({ replicaOf: first });
  });

  afterAll(async () => {
    await second.stop();
    await first.dispose();
  });

  it('evaluates each tick once, on one replica or the other', async () => {
    await upload(first.url, 'os_armv8', '1.0.0', Buffer.from('one'));
    await upload(first.url, 'os_armv8', '2.0.0', Buffer.from('two'));
    await sendJson('PUT', `${first.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });
    const created = await sendJson('POST', `${first.url}/api/v1/rollouts`, {
      component: 'os_armv8',
      channel: 'prod',
      version: '2.0.0',
      phases: [{ percent: 10, holdSeconds: 3600 }],
      maxFailureRate: 0.1,
      minReports: 5,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;

    const deadline = Date.now() + 20_000;
    while ((await getJson(`${second.url}/api/v1/rollouts/${id}`)).body.evaluations < 6 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // Pausing removes the schedule; let a tick already taken finish before counting.
    await sendJson('POST', `${second.url}/api/v1/rollouts/${id}/pause`, undefined);
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const rollout = (await getJson(`${first.url}/api/v1/rollouts/${id}`)).body;
    const queue = new Queue('rollouts', { connection: { url: testRedisUrl }, prefix: `${prefix}:bull` });
    try {
      const completed = await queue.getCompletedCount();
      const failed = await queue.getFailedCount();
      expect(rollout.evaluations).toBeGreaterThanOrEqual(6);
      // One evaluation when it was created, then exactly one per scheduled job.
      expect(rollout.evaluations).toBe(completed + 1);
      expect(failed).toBe(0);
    } finally {
      await queue.close();
    }
    const metrics = [await (await fetch(`${first.url}/metrics`)).text(), await (await fetch(`${second.url}/metrics`)).text()];
    const evaluatedHere = metrics.map((text) => metricSum(text, 'ota_rollout_evaluations_total', (labels) => !labels.includes('"skipped"')));
    expect(evaluatedHere[0] + evaluatedHere[1]).toBe(rollout.evaluations);
    expect(metrics.map((text) => metricSum(text, 'ota_rollout_evaluations_total', (labels) => labels.includes('"skipped"')))).toEqual([0, 0]);
  });
});
