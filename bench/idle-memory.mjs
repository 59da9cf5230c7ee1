// bench/idle-memory: the appliance's memory at rest on embedded defaults (PGlite, filesystem store),
// after a first start on an empty DATA_DIR and after a restart on the same data, against a bare
// Node process idling with an HTTP server (the floor of any Node service on this machine). With
// POSTGRES_URL set (a server where it may create a database) it also starts the appliance on
// external PostgreSQL, so the difference is what the embedded database costs. Last, the CPU price of
// keeping PGlite's WebAssembly on V8's baseline compiler: the same queries with V8's defaults and with
// the appliance's flags.
//   npm run bench:idle-memory          (IDLE_SECONDS=15 POSTGRES_URL=postgres://postgres@127.0.0.1:5432/postgres)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { get } from 'node:http';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fmt, httpGet, MiB, repoRoot, rssBytes, startAppliance, tempDir } from './lib.mjs';

const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 15);
const POSTGRES_URL = process.env.POSTGRES_URL;

const requireFromRepo = createRequire(join(repoRoot, 'package.json'));
/** The flags the appliance sets for PGlite; absent from a build before they existed. */
const baselineFlags = (() => {
  try {
    return requireFromRepo('./dist/apps/server/src/database/embedded-cluster.js').BASELINE_WASM_FLAGS;
  } catch {
    return undefined;
  }
})();

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Proportional set size: shared pages (the node binary, libraries) divided among the processes that map them. */
function pssBytes(pid) {
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  return Number(/^Pss:\s+(\d+) kB/m.exec(rollup)[1]) * 1024;
}

/** CPU seconds a process and its ended children have used (clock ticks of 10 ms). */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  // utime, stime, cutime, cstime: fields 14–17 of proc(5), counted from the state (field 3).
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
}

/** RSS of a process's descendants (the appliance, and the child in which it creates its first database). */
function descendantsRssBytes(pid) {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    for (const child of children ? children.split(/\s+/) : []) {
      try {
        total += rssBytes(Number(child)) + descendantsRssBytes(Number(child));
      } catch {}
    }
  }
  return total;
}

/** Samples the RSS of every process this script started until `work` settles; answers the peak. */
async function peakWhile(work) {
  let peak = 0;
  let finished = false;
  const sampling = (async () => {
    while (!finished) {
      peak = Math.max(peak, descendantsRssBytes(process.pid));
      await sleep(20);
    }
  })();
  try {
    return { result: await work(), peak: () => peak };
  } finally {
    finished = true;
    await sampling;
  }
}

/** Waits IDLE_SECONDS with nothing asked of the process (long enough for V8's memory reducer), then answers its memory. */
async function idleMemory(pid) {
  await sleep(IDLE_SECONDS * 1000);
  return { rss: rssBytes(pid), pss: pssBytes(pid) };
}

async function readyzOk(url, deadlineMs) {
  for (;;) {
    try {
      if ((await httpGet(`${url}/readyz`)).status === 200) return;
    } catch {}
    if (Date.now() > deadlineMs) throw new Error('the appliance did not become ready');
    await sleep(50);
  }
}

/** The V8 heap and external (ArrayBuffer, WebAssembly) memory as the appliance's /metrics reports them. */
async function v8Memory(url) {
  const text = await new Promise((resolve, reject) => {
    get(`${url}/metrics`, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  const gauge = (name) => Number(new RegExp(`^${name} ([\\d.e+]+)`, 'm').exec(text)?.[1] ?? NaN);
  return { heapUsed: gauge('nodejs_heap_size_used_bytes'), external: gauge('nodejs_external_memory_bytes') };
}

async function measureAppliance(label, env, options) {
  const started = process.hrtime.bigint();
  const { result: appliance, peak } = await peakWhile(async () => {
    const running = await startAppliance(env, options);
    await readyzOk(running.url, Date.now() + 120_000);
    return running;
  });
  try {
    const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const startCpuSeconds = cpuSeconds(appliance.pid);
    const idle = await idleMemory(appliance.pid);
    const v8 = await v8Memory(appliance.url);
    return { label, startSeconds, startCpuSeconds, startPeak: peak(), ...idle, ...v8 };
  } finally {
    await appliance.stop();
  }
}

/** A bare Node process with an idle HTTP server: what any Node service costs before it does anything. */
async function measureFloor() {
  const script = `require('node:http').createServer((req, res) => res.end('ok')).listen(0, '127.0.0.1', () => process.stdout.write('ready\\n'));`;
  const started = process.hrtime.bigint();
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  await once(child.stdout, 'data');
  const startSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const startCpuSeconds = cpuSeconds(child.pid);
    const idle = await idleMemory(child.pid);
    return { label: `bare Node ${process.version} http server (floor)`, startSeconds, startCpuSeconds, startPeak: NaN, ...idle, heapUsed: NaN, external: NaN };
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
}

async function withPostgresDatabase(adminUrl, use) {
  const { default: pg } = await import('pg');
  const name = `ota_bench_idle_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return await use(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * What baseline WebAssembly code costs the database: the same writes and aggregate reads on PGlite in
 * a process with V8's defaults (optimising tier) and in one with the appliance's baseline-only flags.
 * Main-thread CPU time, so that the other jobs on the machine move it less than wall time.
 */
const QUERY_SCRIPT = `
const { PGlite } = require(process.argv[1]);
const cpuMs = (since) => { const used = process.threadCpuUsage(since); return (used.user + used.system) / 1000; };
(async () => {
  const db = await PGlite.create({ dataDir: process.argv[2], startParams: [...PGlite.defaultStartParams, '-c', 'shared_buffers=16MB'] });
  await db.exec('CREATE TABLE reports (id serial PRIMARY KEY, device text, status text, detail text, at timestamptz DEFAULT now())');
  let since = process.threadCpuUsage();
  for (let i = 0; i < 3000; i++) await db.query('INSERT INTO reports (device, status, detail) VALUES ($1, $2, $3)', ['dev-' + (i % 300), i % 7 ? 'installed' : 'failed', 'x'.repeat(100)]);
  const writes = cpuMs(since);
  since = process.threadCpuUsage();
  for (let i = 0; i < 300; i++) await db.query("SELECT device, count(*) FILTER (WHERE status = 'failed'), max(at) FROM reports WHERE device = $1 GROUP BY device", ['dev-' + i]);
  for (let i = 0; i < 20; i++) await db.query('SELECT device, count(*), max(at) FROM reports GROUP BY device ORDER BY 2 DESC');
  const reads = cpuMs(since);
  await db.close();
  const total = process.cpuUsage();
  process.stdout.write(JSON.stringify({ writes, reads, processCpu: (total.user + total.system) / 1000 }));
})();
`;

async function queryCpu(flags) {
  const dir = tempDir('ota-bench-idle-queries-');
  try {
    const child = spawn(process.execPath, [...flags, '-e', QUERY_SCRIPT, requireFromRepo.resolve('@electric-sql/pglite'), dir], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let output = '';
    child.stdout.on('data', (data) => (output += data));
    const [code] = await once(child, 'exit');
    if (code !== 0) throw new Error(`query run exited with ${code}`);
    return JSON.parse(output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const dataDir = tempDir('ota-bench-idle-');
const rows = [];
let queries;
try {
  rows.push(await measureFloor());
  rows.push(await measureAppliance('appliance, embedded: first start (empty DATA_DIR)', {}, { dataDir }));
  rows.push(await measureAppliance('appliance, embedded: restart (same DATA_DIR)', {}, { dataDir }));
  if (POSTGRES_URL) {
    rows.push(await withPostgresDatabase(POSTGRES_URL, (url) => measureAppliance('appliance, external PostgreSQL (reference)', { DATABASE_URL: url })));
  }
  if (baselineFlags) queries = { optimising: await queryCpu([]), baseline: await queryCpu(baselineFlags) };
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

const floor = rows[0];
const mib = (bytes) => (Number.isNaN(bytes) ? '–' : fmt(bytes / MiB, 0));
console.log(`idle ${IDLE_SECONDS} s after /readyz answered 200 (the floor: after it listened); MiB; ratio = RSS / floor RSS`);
console.log(
  ['', 'start: wall s', 'CPU s', 'peak RSS while starting (with its children)', 'idle RSS', 'idle PSS', 'V8 heap used', 'external (ArrayBuffers, WebAssembly)', 'RSS ratio'].join(
    ' | ',
  ),
);
for (const row of rows) {
  console.log(
    [
      row.label,
      fmt(row.startSeconds, 1),
      fmt(row.startCpuSeconds, 1),
      mib(row.startPeak),
      mib(row.rss),
      mib(row.pss),
      mib(row.heapUsed),
      mib(row.external),
      fmt(row.rss / floor.rss, 1),
    ].join(' | '),
  );
}
const postgres = rows.find((row) => row.label.includes('external PostgreSQL'));
if (postgres) {
  for (const row of rows.filter((candidate) => candidate.label.includes('embedded'))) {
    console.log(`embedded database's cost, ${row.label.split(': ')[1]}: ${mib(row.rss - postgres.rss)} MiB RSS over external PostgreSQL`);
  }
}

if (queries) {
  console.log(`\nPGlite, CPU ms: V8 defaults (optimising tier) | ${baselineFlags.join(' ')} (the appliance) | ratio`);
  for (const [label, key] of [
    ['3,000 single-row INSERTs (main thread)', 'writes'],
    ['320 aggregate SELECTs (main thread)', 'reads'],
    ['whole process, compiler threads included', 'processCpu'],
  ]) {
    console.log([label, fmt(queries.optimising[key], 0), fmt(queries.baseline[key], 0), fmt(queries.baseline[key] / queries.optimising[key])].join(' | '));
  }
}
