// bench/rollout: the time of one rollout evaluation with 100,000 devices in the rollout and
// 1,000,000 status rows in PostgreSQL (target < 1 s), read from the appliance's own histogram,
// against a reference in the same database: the "latest report per device" aggregate over
// status_reports that a design without the per-rollout state table would run each tick.
//   npm run bench:rollout          (DEVICES=100000 REPORTS=1000000 TEST_DATABASE_URL=postgres://…)
import pg from 'pg';
import { fmt, startAppliance } from './lib.mjs';

const DEVICES = Number(process.env.DEVICES ?? 100_000);
const REPORTS = Number(process.env.REPORTS ?? 1_000_000);
const adminUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const database = `ota_bench_rollout_${process.pid}`;
const key = 'bench-admin-key-0123456789';

const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
await admin.query(`CREATE DATABASE ${database}`);
const url = new URL(adminUrl);
url.pathname = `/${database}`;
let appliance;
const db = new pg.Client({ connectionString: url.toString() });

async function api(method, path, body) {
  const response = await fetch(`${appliance.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': body instanceof Buffer ? 'application/octet-stream' : 'application/json' },
    body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function histogram() {
  const text = await (await fetch(`${appliance.url}/metrics`)).text();
  const value = (name) =>
    Number(
      text
        .split('\n')
        .find((line) => line.startsWith(name))
        ?.split(' ')[1] ?? 0,
    );
  return { sum: value('ota_rollout_evaluation_seconds_sum'), count: value('ota_rollout_evaluation_seconds_count') };
}

try {
  appliance = await startAppliance({ DATABASE_URL: url.toString(), ROLLOUT_TICK_SECONDS: '1', ADMIN_API_KEY: key });
  await db.connect();
  await api('PUT', '/api/v1/components/os_armv8/versions/1.0.0', Buffer.from('old'));
  await api('PUT', '/api/v1/components/os_armv8/versions/2.0.0', Buffer.from('new'));
  await api('PUT', '/api/v1/components/os_armv8/channels/prod', { version: '1.0.0' });
  const rollout = await api('POST', '/api/v1/rollouts', {
    component: 'os_armv8',
    channel: 'prod',
    version: '2.0.0',
    maxFailureRate: 0.5,
    minReports: 10,
    phases: [
      { percent: 50, holdSeconds: 86400 },
      { percent: 100, holdSeconds: 0 },
    ],
  });

  const started = Date.now();
  await db.query(`INSERT INTO devices (id, last_seen_at) SELECT 'bench-' || i, now() FROM generate_series(1, $1) AS i`, [DEVICES]);
  // Ten reports per device across the update's life (downloading … installing, then a final state
  // that is installed for most, failed, rolled back or still installing for some).
  const state = `CASE WHEN i / $1 < 3 THEN (ARRAY['downloading','downloaded','installing'])[1 + i / $1]
                      WHEN (i % $1) % 20 = 0 THEN 'failed' WHEN (i % $1) % 50 = 1 THEN 'rolled_back'
                      WHEN (i % $1) % 10 = 2 THEN 'installing' ELSE 'installed' END`;
  await db.query(
    `INSERT INTO status_reports (device_id, component, version, state, rollout_id, dedupe_key, received_at)
     SELECT 'bench-' || (1 + (i % $1)), 'os_armv8', '2.0.0', ${state}, $3, md5(i::text) || md5((i + 1)::text), now() - (($2 - i) || ' seconds')::interval
       FROM generate_series(0, $2 - 1) AS i`,
    [DEVICES, REPORTS, rollout.id],
  );
  await db.query(
    `INSERT INTO rollout_device_states (rollout_id, device_id, state, phase_index, updated_at)
     SELECT DISTINCT ON (device_id) $1::uuid, device_id, state, 0, received_at FROM status_reports ORDER BY device_id, received_at DESC`,
    [rollout.id],
  );
  // Finished rollouts leave their device states behind: three earlier ones share the table.
  for (let i = 0; i < 3; i++) {
    const [{ id }] = (
      await db.query(
        `INSERT INTO rollouts (id, component_id, channel_id, artifact_id, from_artifact_id, phases, max_failure_rate, min_reports, start_at, jitter_seconds, state, phase_index, finished_at)
       SELECT gen_random_uuid(), component_id, channel_id, from_artifact_id, artifact_id, phases, max_failure_rate, min_reports, start_at, jitter_seconds, 'completed', 1, now()
         FROM rollouts WHERE id = $1 RETURNING id`,
        [rollout.id],
      )
    ).rows;
    await db.query(
      `INSERT INTO rollout_device_states (rollout_id, device_id, state, phase_index, updated_at) SELECT $1, device_id, 'installed', 1, updated_at FROM rollout_device_states WHERE rollout_id = $2`,
      [id, rollout.id],
    );
  }
  await db.query('ANALYZE');
  const loadSeconds = (Date.now() - started) / 1000;

  // Let a few ticks run on the loaded tables and read their times from the appliance.
  const before = await histogram();
  await new Promise((resolve) => setTimeout(resolve, 8000));
  const after = await histogram();
  const ticks = after.count - before.count;
  const evaluation = (after.sum - before.sum) / ticks;

  const referenceRuns = [];
  for (let i = 0; i < 3; i++) {
    const t = process.hrtime.bigint();
    await db.query(
      `SELECT state, count(*) FROM (SELECT DISTINCT ON (device_id) state FROM status_reports WHERE rollout_id = $1 ORDER BY device_id, received_at DESC) latest GROUP BY state`,
      [rollout.id],
    );
    referenceRuns.push(Number(process.hrtime.bigint() - t) / 1e9);
  }
  const reference = referenceRuns.sort((a, b) => a - b)[1];
  const plan = (
    await db.query(
      `EXPLAIN SELECT count(*) FILTER (WHERE phase_index = 0 AND state IN ('installed','failed','rolled_back')), count(*) FILTER (WHERE state IN ('installed','failed','rolled_back'))
       FROM rollout_device_states WHERE rollout_id = $1`,
      [rollout.id],
    )
  ).rows.map((row) => row['QUERY PLAN'].trim());
  const [{ counts }] = (
    await db.query(`SELECT json_object_agg(state, n) AS counts FROM (SELECT state, count(*) AS n FROM rollout_device_states WHERE rollout_id = $1 GROUP BY state) s`, [rollout.id])
  ).rows;
  const [{ rows: stateRows }] = (await db.query(`SELECT count(*)::int AS rows FROM rollout_device_states`)).rows;

  process.stdout.write(
    [
      `bench/rollout — PostgreSQL ${(await db.query('SHOW server_version')).rows[0].server_version}, ${DEVICES} devices in the rollout, ${REPORTS} status rows (loaded in ${fmt(loadSeconds, 1)} s), ${new Date().toISOString().slice(0, 10)}`,
      `one evaluation (mean of ${ticks} ticks, lock + aggregate + decision + write): ${fmt(evaluation * 1000, 1)} ms  (target < 1000 ms)`,
      `reference, latest-report-per-device aggregate over status_reports: ${fmt(reference * 1000, 0)} ms   ratio evaluation/reference ${fmt(evaluation / reference, 3)}`,
      `devices by state in the rollout: ${JSON.stringify(counts)} (rollout_device_states holds ${stateRows} rows of 4 rollouts)`,
      `tick query plan: ${plan.join(' | ')}`,
    ].join('\n') + '\n',
  );
} finally {
  await appliance?.stop();
  await db.end().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  await admin.end();
}
