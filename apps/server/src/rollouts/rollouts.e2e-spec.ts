import { databaseOf } from '@test/support/database';
import { startTestApp, type TestApp } from '@test/support/app';
import { deviceInCohort, devicesInCohorts } from '@test/support/cohorts';
import { getJson, sendJson, upload } from '@test/support/http';
import { testRedisUrl, uniqueRedisPrefix } from '@test/support/redis';
import { sleep, until } from '@test/support/wait';

describe.each([
  ['the in-process timer', {}],
  ['BullMQ on Redis', { REDIS_URL: testRedisUrl }],
] as const)('staged rollouts driven by %s', (_label, driverEnv) => {
  let appliance: TestApp;
  let oldSha: string;
  let newSha: string;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { ROLLOUT_TICK_SECONDS: '1', REDIS_PREFIX: uniqueRedisPrefix(), ...driverEnv } });
    oldSha = (await upload(appliance.url, 'os_armv8', '1.0.0', Buffer.from('old os'))).body.sha256;
    newSha = (await upload(appliance.url, 'os_armv8', '2.0.0', Buffer.from('new os'))).body.sha256;
    await upload(appliance.url, 'os_armv8', '3.0.0', Buffer.from('newest os'));
  });

  afterAll(async () => appliance.dispose());

  beforeEach(async () => {
    // Every test starts from a channel at 1.0.0 with no rollout in flight.
    const active = await getJson(`${appliance.url}/api/v1/rollouts`);
    for (const rollout of active.body.filter((r: { state: string }) => ['scheduled', 'running', 'paused'].includes(r.state))) {
      await sendJson('POST', `${appliance.url}/api/v1/rollouts/${rollout.id}/abort`, {});
    }
    expect((await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0', allowDowngrade: false })).status).toBeLessThan(300);
  });

  const offered = async (query: string, ifNoneMatch?: string) => {
    const response = await fetch(`${appliance.url}/package?cpuArch=armv8&payloadType=metadataOnly${query}`, { headers: ifNoneMatch ? { 'if-none-match': ifNoneMatch } : {} });
    return response.status === 304 ? { status_code: 304 } : ((await response.json()) as any).os_armv8;
  };
  const rollout = async (id: string) => (await getJson(`${appliance.url}/api/v1/rollouts/${id}`)).body;
  const report = (deviceId: string, state: string, rolloutId?: string) =>
    sendJson('POST', `${appliance.url}/devices/${deviceId}/status`, { component: 'os_armv8', version: '2.0.0', state, ...(rolloutId ? { rolloutId } : {}) });
  const create = (body: Record<string, unknown>) =>
    sendJson('POST', `${appliance.url}/api/v1/rollouts`, { component: 'os_armv8', channel: 'prod', version: '2.0.0', maxFailureRate: 0.3, minReports: 2, ...body });

  it('goes 10 % → 50 % → 100 % as reports come in, and finally moves the channel', async () => {
    const created = await create({
      phases: [
        { percent: 10, holdSeconds: 0 },
        { percent: 50, holdSeconds: 0 },
        { percent: 100, holdSeconds: 0 },
      ],
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ state: 'running', phase: 1, percent: 10, fromVersion: '1.0.0', version: '2.0.0' });
    const id = created.body.id;

    expect(await offered('&cohort=5')).toMatchObject({ latestVersion: '2.0.0', reason: 'rollout', rolloutId: id });
    expect(await offered('&cohort=70')).toMatchObject({ latestVersion: '1.0.0', reason: 'channel' });
    expect(await offered('')).toMatchObject({ latestVersion: '1.0.0' });
    expect(await offered(`&deviceId=${deviceInCohort((c) => c < 10)}`)).toMatchObject({ latestVersion: '2.0.0' });

    for (const device of devicesInCohorts(2, (c) => c < 10, 'early')) await report(device, 'installed', id);
    const second = await until(
      () => rollout(id),
      (r) => r.phase === 2,
    );
    expect(second).toMatchObject({ state: 'running', phase: 2, percent: 50 });
    expect(await offered('&cohort=30')).toMatchObject({ latestVersion: '2.0.0' });
    // Growing a phase never removes anyone: cohort 5 still gets it.
    expect(await offered('&cohort=5')).toMatchObject({ latestVersion: '2.0.0' });
    expect(await offered('&cohort=70')).toMatchObject({ latestVersion: '1.0.0' });

    for (const device of devicesInCohorts(2, (c) => c >= 10 && c < 50, 'middle')) await report(device, 'installed', id);
    // The last phase needs no reports of its own: the rollout's four healthy ones complete it once its hold is over.
    const last = await until(
      () => rollout(id),
      (r) => r.state === 'completed',
    );
    expect(last).toMatchObject({ state: 'completed', percent: 100, counts: { installed: 4 } });
    expect(last.history.map((e: { toState: string; phase: number }) => `${e.toState}@${e.phase}`)).toEqual(['scheduled@0', 'running@1', 'running@2', 'running@3', 'completed@3']);
    expect((await getJson(`${appliance.url}/api/v1/components/os_armv8/channels/prod`)).body.version).toBe('2.0.0');
    expect(await offered('')).toMatchObject({ latestVersion: '2.0.0', reason: 'channel' });
    expect(await offered('&cohort=99')).toMatchObject({ latestVersion: '2.0.0' });
  });

  it('completes when every device installed in an earlier phase (issue 10: the last phase has nothing new to report)', async () => {
    const created = await create({
      minReports: 2,
      phases: [
        { percent: 10, holdSeconds: 2 },
        { percent: 100, holdSeconds: 0 },
      ],
    });
    const id = created.body.id;
    for (const device of devicesInCohorts(3, (c) => c < 10, 'early-only')) await report(device, 'installed', id);

    const done = await until(
      () => rollout(id),
      (r) => r.state === 'completed',
      20_000,
    );
    // All three reported in phase 1; the last phase has none of its own.
    expect(done).toMatchObject({ state: 'completed', percent: 100, counts: { installed: 3 }, phaseCounts: {} });
    expect(done.history.map((e: { toState: string; phase: number }) => `${e.toState}@${e.phase}`)).toEqual(['scheduled@0', 'running@1', 'running@2', 'completed@2']);
    expect(done.history.at(-1).reason).toContain('3 final reports across the rollout, 0 failed');
    expect((await getJson(`${appliance.url}/api/v1/components/os_armv8/channels/prod`)).body.version).toBe('2.0.0');
    expect(await offered('&cohort=99')).toMatchObject({ latestVersion: '2.0.0', reason: 'channel' });
  });

  it('completes after a resume on the reports that follow it: a failure the operator accepted does not hold it back', async () => {
    const created = await create({
      minReports: 2,
      phases: [
        { percent: 10, holdSeconds: 0 },
        { percent: 100, holdSeconds: 0 },
      ],
    });
    const id = created.body.id;
    const [healthy, failing, later] = devicesInCohorts(3, (c) => c < 10, 'accepted');
    await report(healthy, 'installed', id);
    await report(failing, 'failed', id);
    expect(
      await until(
        () => rollout(id),
        (r) => r.state === 'paused',
      ),
    ).toMatchObject({ state: 'paused', phase: 1 });

    expect((await sendJson('POST', `${appliance.url}/api/v1/rollouts/${id}/resume`, undefined)).status).toBe(200);
    // One healthy report is not enough yet: the accepted failure counts neither way.
    await until(
      () => rollout(id),
      (r) => r.phase === 2,
    );
    expect(await rollout(id)).toMatchObject({ state: 'running', phase: 2 });
    await report(later, 'installed', id);

    const done = await until(
      () => rollout(id),
      (r) => r.state === 'completed',
      20_000,
    );
    expect(done).toMatchObject({ state: 'completed', counts: { installed: 2, failed: 1 } });
    expect(done.history.at(-1).reason).toContain('2 final reports across the rollout, 0 failed');
    expect((await getJson(`${appliance.url}/api/v1/components/os_armv8/channels/prod`)).body.version).toBe('2.0.0');
  });

  it('pauses on failures within two ticks, does not grow while paused, resumes and aborts as described', async () => {
    const created = await create({
      minReports: 3,
      phases: [
        { percent: 10, holdSeconds: 0 },
        { percent: 100, holdSeconds: 0 },
      ],
    });
    const id = created.body.id;
    const failing = devicesInCohorts(3, (c) => c < 10, 'failing');
    for (const device of failing) await report(device, 'failed', id);
    const reportedAt = (await rollout(id)).evaluations;
    const paused = await until(
      () => rollout(id),
      (r) => r.state === 'paused',
    );
    expect(paused.state).toBe('paused');
    // Counted in ticks, not seconds: the pause came at the first or second evaluation after the reports.
    expect(paused.evaluations - reportedAt).toBeGreaterThanOrEqual(1);
    expect(paused.evaluations - reportedAt).toBeLessThanOrEqual(2);
    expect(paused).toMatchObject({ phase: 1, counts: { failed: 3 }, failureRate: 1 });
    expect(paused.history.at(-1)).toMatchObject({ toState: 'paused', actor: 'scheduler', reason: expect.stringContaining('above the limit of 30 %') });

    // Paused: nobody new gets the new version, and it stays in phase 1 tick after tick.
    expect(await offered('&cohort=5')).toMatchObject({ latestVersion: '1.0.0' });
    const evaluations = paused.evaluations;
    // Time passes on purpose: a paused rollout must neither grow nor count ticks in this window.
    await sleep(2500);
    expect(await rollout(id)).toMatchObject({ state: 'paused', phase: 1, evaluations });

    const resumed = await sendJson('POST', `${appliance.url}/api/v1/rollouts/${id}/resume`, undefined);
    expect(resumed.body).toMatchObject({ state: 'running', phase: 1, failureRate: null });
    expect(await offered('&cohort=5')).toMatchObject({ latestVersion: '2.0.0' });
    expect((await sendJson('POST', `${appliance.url}/api/v1/rollouts/${id}/resume`, undefined)).status).toBe(409);

    const installedHere = deviceInCohort((c) => c < 10, 'kept');
    await report(installedHere, 'installed', id);
    const aborted = await sendJson('POST', `${appliance.url}/api/v1/rollouts/${id}/abort`, {});
    expect(aborted.body.state).toBe('aborted');
    expect(await offered('&cohort=5')).toMatchObject({ latestVersion: '1.0.0' });
    // A device that installed the new version keeps it.
    expect(await offered('&cohort=5', newSha)).toEqual({ status_code: 304 });
    expect((await sendJson('POST', `${appliance.url}/api/v1/rollouts/${id}/abort`, {})).status).toBe(409);
  });

  it('with rollback, offers the channel’s version again to devices that took the new one', async () => {
    const created = await create({ phases: [{ percent: 50, holdSeconds: 3600 }] });
    const aborted = await sendJson('POST', `${appliance.url}/api/v1/rollouts/${created.body.id}/abort`, { rollback: true });
    expect(aborted.status).toBe(200);
    expect(await offered('&cohort=5', newSha)).toMatchObject({ status_code: 200, latestVersion: '1.0.0', reason: 'downgrade', sha256: oldSha });
  });

  it('starts at startAt, not before', async () => {
    const created = await create({ startAt: new Date(Date.now() + 5000).toISOString(), phases: [{ percent: 100, holdSeconds: 3600 }] });
    expect(created.body).toMatchObject({ state: 'scheduled', phase: 0 });
    expect(await offered('')).toMatchObject({ latestVersion: '1.0.0' });
    const running = await until(
      () => rollout(created.body.id),
      (r) => r.state === 'running',
    );
    expect(running).toMatchObject({ state: 'running', phase: 1, percent: 100 });
    expect(await offered('')).toMatchObject({ latestVersion: '2.0.0', reason: 'rollout' });
  });

  it('keeps the channel pointer for the rollout while it is in flight', async () => {
    await create({ phases: [{ percent: 10, holdSeconds: 3600 }] });
    const moved = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '3.0.0' });
    expect(moved.status).toBe(409);
    const deleted = await fetch(`${appliance.url}/api/v1/components/os_armv8/versions/2.0.0`, { method: 'DELETE', headers: { authorization: 'Bearer test-admin-key-0123456789' } });
    expect(deleted.status).toBe(409);
  });

  it.each([
    ['an unknown component', { component: 'nope' }, 404],
    ['an unknown channel', { channel: 'nightly' }, 404],
    ['an unknown version', { version: '9.9.9' }, 404],
    ['the version the channel already has', { version: '1.0.0' }, 409],
    [
      'decreasing percents',
      {
        phases: [
          { percent: 50, holdSeconds: 0 },
          { percent: 10, holdSeconds: 0 },
        ],
      },
      400,
    ],
    ['a percent over 100', { phases: [{ percent: 150, holdSeconds: 0 }] }, 400],
    ['no phases', { phases: [] }, 400],
    ['a failure rate over 1', { maxFailureRate: 2, phases: [{ percent: 10, holdSeconds: 0 }] }, 400],
    ['a bad start time', { startAt: 'tomorrow', phases: [{ percent: 10, holdSeconds: 0 }] }, 400],
  ])('refuses %s', async (_label, body, status) => {
    const response = await create({ phases: [{ percent: 10, holdSeconds: 0 }], ...body });
    expect(response.status).toBe(status);
    expect(response.body).toMatchObject({ statusCode: status, message: expect.anything() });
  });

  it('refuses a second rollout on the same channel with 409', async () => {
    expect((await create({ phases: [{ percent: 10, holdSeconds: 3600 }] })).status).toBe(201);
    const second = await create({ version: '3.0.0', phases: [{ percent: 10, holdSeconds: 3600 }] });
    expect(second.status).toBe(409);
  });

  it('retries a failing tick, then shows it in the rollout’s history and on /metrics', async () => {
    const created = await create({ phases: [{ percent: 10, holdSeconds: 3600 }] });
    const dataSource = databaseOf(appliance);
    // A fault in the database itself: every write to this rollout fails until the trigger goes.
    await dataSource.query(`CREATE FUNCTION refuse_rollout_write() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql`);
    await dataSource.query(
      `CREATE TRIGGER refuse_rollout_write BEFORE UPDATE ON rollouts FOR EACH ROW WHEN (NEW.id = '${created.body.id}') EXECUTE FUNCTION refuse_rollout_write()`,
    );
    try {
      const failed = await until(
        () => rollout(created.body.id),
        (r) => r.history.some((e: { reason: string }) => e.reason.startsWith('evaluation failed after retries')),
        30_000,
      );
      expect(failed.history.at(-1)).toMatchObject({ actor: 'scheduler', reason: expect.stringContaining('injected failure') });
      const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
      expect(metrics).toMatch(/ota_rollout_failed_ticks [1-9]/);
    } finally {
      await dataSource.query(`DROP TRIGGER refuse_rollout_write ON rollouts`);
      await dataSource.query(`DROP FUNCTION refuse_rollout_write()`);
    }
  });

  it('shows per-rollout gauges on /metrics', async () => {
    const created = await create({ phases: [{ percent: 25, holdSeconds: 3600 }] });
    await report(
      deviceInCohort((c) => c < 25, 'metric'),
      'installed',
      created.body.id,
    );
    const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
    expect(metrics).toContain(`ota_rollout_percent{rollout="${created.body.id}",component="os_armv8",channel="prod",version="2.0.0"} 25`);
    expect(metrics).toContain(`ota_rollout_devices{rollout="${created.body.id}",component="os_armv8",channel="prod",version="2.0.0",state="installed"} 1`);
    expect(metrics).toMatch(/ota_rollout_failed_ticks \d/);
  });
});
