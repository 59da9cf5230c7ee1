// bench/package: GET /package with the sample data loaded (four 10 MiB binaries for the query below).
//  - the full payload (tar.gz of the four binaries), first, on a fresh appliance: time to first
//    byte, MB/s, and the appliance's RSS growth while CONCURRENT clients download it at once;
//  - metadataOnly under wrk (a C load generator: a Node one saturates its own
//    core long before nginx does, which flattered every earlier ratio against nginx), against nginx
//    (`worker_processes 1`) serving the identical JSON as a static file, and a bare Node
//    `http.createServer` answering the same bytes (the ceiling of any Node server on this machine).
//    PIN=split (the default on 2+ CPUs): every server pinned to the last CPU, wrk to the others, so
//    each figure is one core's worth; PIN=none pins nothing (how issue 10 first measured). The
//    per-core ratio divides CPU time per request (nginx's by the server's, read from /proc), which
//    holds whether wrk or the server ran out of CPU first; requests/s ratios are printed too.
//    Requests/s and p99 come from the best of ROUNDS rounds, the servers taking turns so that a
//    busy moment hits them alike. The appliance runs twice: the same query again and again (as a
//    device polling, or a fleet alike, asks), and a query made new by a counter on every request
//    (each one parsed, decided and cached afresh, the cache evicting as it goes).
//   npm run bench:package   (THREADS=2 CONNECTIONS=64 DURATION=10 ROUNDS=3 PIN=split|none CONCURRENT=20 LOG_LEVEL=warn)
//   wrk is installed with apt-get when missing and running as root; otherwise: apt-get install wrk.
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, readdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ensureWrk, fmt, httpGet, median, MiB, peakRss, pinProcessTree, repoRoot, rssBytes, runWrk, startAppliance, startBareNode, startNginx, tempDir } from './lib.mjs';

const THREADS = Number(process.env.THREADS ?? 2);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 64);
const DURATION = Number(process.env.DURATION ?? 10);
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const CONCURRENT = Number(process.env.CONCURRENT ?? 20);
const PIN = process.env.PIN ?? (availableParallelism() >= 2 ? 'split' : 'none');
const QUERY = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';
const TARGET_RATIO = 0.35;

// PIN=split: every server on the last CPU, wrk on the others. PIN=none: nothing pinned.
const lastCpu = availableParallelism() - 1;
const serverCpus = PIN === 'split' ? String(lastCpu) : undefined;
const wrkCpus = PIN === 'split' ? (lastCpu === 1 ? '0' : `0-${lastCpu - 1}`) : undefined;

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }));

/** utime + stime of a process and its children (nginx's worker), in clock ticks. */
function cpuTicks(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  let ticks = Number(fields[11]) + Number(fields[12]);
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    for (const child of children ? children.split(/\s+/) : []) ticks += cpuTicks(Number(child));
  }
  return ticks;
}

/** One wrk run against a server, with the server's CPU time per request. */
async function measure(server, url, script) {
  const before = cpuTicks(server.pid);
  const result = await runWrk(url, { threads: THREADS, connections: CONNECTIONS, durationSeconds: DURATION, cpus: wrkCpus, script });
  const cpu = (cpuTicks(server.pid) - before) / CLOCK_TICKS;
  if (result.non2xx > 0 || result.socketErrors > 0) throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.socketErrors} socket errors`);
  return { ...result, cpuMicrosPerRequest: (cpu * 1e6) / result.requests, busy: cpu / DURATION };
}

/** Best round by requests/s; CPU per request is the lowest seen (noise only ever adds to it). */
function best(rounds) {
  const top = rounds.reduce((a, b) => (b.requestsPerSecond > a.requestsPerSecond ? b : a));
  return { ...top, cpuMicrosPerRequest: Math.min(...rounds.map((r) => r.cpuMicrosPerRequest)) };
}

ensureWrk();
const appliance = await startAppliance({ LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' });
const web = tempDir('ota-bench-pkg-');
chmodSync(web, 0o755);
// Each wrk thread adds its own counter to the query, so no two requests are alike.
const uniqueQueries = join(web, 'unique-queries.lua');
writeFileSync(
  uniqueQueries,
  `local threads = 0
function setup(thread) threads = threads + 1; thread:set("id", threads) end
local n = 0
function request() n = n + 1; return wrk.format(nil, wrk.path .. "&serial=" .. id .. "-" .. n) end
`,
);
let nginx;
let bare;
try {
  execFileSync(process.execPath, [join(repoRoot, 'dist/apps/server/src/tools/seed-sample.js')], {
    env: { ...process.env, OTA_URL: appliance.url, OTA_API_KEY: appliance.apiKey, SAMPLE_SIZE_BYTES: String(10 * MiB) },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const metadataUrl = `${appliance.url}/package?${QUERY}&payloadType=metadataOnly`;
  const answer = await fetch(metadataUrl);
  const json = Buffer.from(await answer.arrayBuffer());
  if (Object.keys(JSON.parse(json.toString())).length !== 4) throw new Error(`expected 4 components, got ${json}`);
  writeFileSync(join(web, 'package.json'), json);

  // The full payload first, on a fresh appliance: its RSS growth is the payload's alone.
  const payloadUrl = `${appliance.url}/package?${QUERY}`;
  const single = [];
  for (let i = 0; i < 5; i++) single.push(await httpGet(payloadUrl));
  const payloadBytes = single[0].bytes;
  const ttfb = median(single.map((r) => r.firstByteSeconds));
  const seconds = median(single.map((r) => r.seconds));

  const idle = rssBytes(appliance.pid);
  let concurrentSeconds = 0;
  const peak = await peakRss(appliance.pid, async () => {
    const started = process.hrtime.bigint();
    const results = await Promise.all(Array.from({ length: CONCURRENT }, () => httpGet(payloadUrl)));
    concurrentSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    if (results.some((r) => r.bytes !== payloadBytes)) throw new Error('a concurrent payload came back short');
  });

  nginx = await startNginx(web);
  const headers = Object.fromEntries(['vary', 'cache-control', 'etag', 'content-type', 'content-length'].map((name) => [name, answer.headers.get(name)]));
  bare = await startBareNode(json, headers);
  if (serverCpus !== undefined) for (const server of [appliance, nginx, bare]) pinProcessTree(server.pid, serverCpus);

  const targets = [
    { name: 'nginx', server: nginx, url: `${nginx.url}/package.json` },
    { name: 'bare', server: bare, url: `${bare.url}/package` },
    { name: 'cached', server: appliance, url: metadataUrl },
    { name: 'fresh', server: appliance, url: metadataUrl, script: uniqueQueries },
  ];
  const rounds = Object.fromEntries(targets.map((t) => [t.name, []]));
  for (const target of targets) await runWrk(target.url, { threads: THREADS, connections: CONNECTIONS, durationSeconds: 2, cpus: wrkCpus, script: target.script }); // warm-up
  for (let round = 0; round < ROUNDS; round++) {
    for (const target of targets) rounds[target.name].push(await measure(target.server, target.url, target.script));
  }
  const [ref, ceiling, cached, fresh] = targets.map((t) => best(rounds[t.name]));

  const nginxVersion =
    /nginx\/[\d.]+/.exec(spawnSync('nginx', ['-v'], { encoding: 'utf8', env: { ...process.env, PATH: `${process.env.PATH}:/usr/sbin` } }).stderr)?.[0] ?? 'nginx';
  const row = (label, r, note = '') =>
    `  ${label.padEnd(46)} ${fmt(r.requestsPerSecond, 0).padStart(7)} req/s  p99 ${fmt(r.p99Ms, 2).padStart(6)} ms  server CPU ${fmt(r.busy * 100, 0).padStart(3)} %  ${fmt(r.cpuMicrosPerRequest, 1).padStart(5)} µs CPU/request${note}`;
  const perCore = (r) => ref.cpuMicrosPerRequest / r.cpuMicrosPerRequest;
  const lines = [
    `bench/package — sample data, query "${QUERY}", LOG_LEVEL=${process.env.LOG_LEVEL ?? 'warn'}, ${new Date().toISOString().slice(0, 10)}, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
    `load generator: wrk -t${THREADS} -c${CONNECTIONS} -d${DURATION}s --latency, best of ${ROUNDS} rounds; ` +
      (serverCpus === undefined ? 'nothing pinned (PIN=none)' : `each server pinned to CPU ${serverCpus}, wrk to CPU ${wrkCpus} (PIN=split)`),
    `metadataOnly (${json.length} bytes of JSON); server CPU below 100 % means wrk, not the server, set the pace; per-core ratio = nginx's CPU per request / the server's:`,
    row(`${nginxVersion}, worker_processes 1 (reference)`, ref),
    row(`bare Node ${process.version} http.createServer, same bytes`, ceiling, `   per core ${fmt(perCore(ceiling))} (the ceiling of a Node server)`),
    row('appliance, the same query again (cached)', cached, `   per core ${fmt(perCore(cached))}  (target ≥ ${TARGET_RATIO})`),
    row('appliance, every query new (decided afresh)', fresh, `   per core ${fmt(perCore(fresh))}`),
    `  requests/s ratios: bare/nginx ${fmt(ceiling.requestsPerSecond / ref.requestsPerSecond)}, cached/nginx ${fmt(cached.requestsPerSecond / ref.requestsPerSecond)}, fresh/nginx ${fmt(fresh.requestsPerSecond / ref.requestsPerSecond)}`,
    `full payload (${fmt(payloadBytes / MiB, 1)} MiB tar.gz, 4 binaries): time to first byte ${fmt(ttfb * 1000, 1)} ms, ${fmt(payloadBytes / 1e6 / seconds, 0)} MB/s single client`,
    `${CONCURRENT} concurrent full payloads: ${fmt((CONCURRENT * payloadBytes) / 1e6 / concurrentSeconds, 0)} MB/s aggregate; appliance RSS ${fmt(idle / MiB, 0)} MiB → peak ${fmt(peak / MiB, 0)} MiB, growth ${fmt((peak - idle) / MiB, 1)} MiB  (target < 100 MiB)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
} finally {
  await appliance.stop();
  await nginx?.stop();
  await bare?.stop();
  rmSync(web, { recursive: true, force: true });
}
