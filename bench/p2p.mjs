// bench/p2p: a site of N peer agents in front of one appliance (the built one; embedded defaults,
// or PostgreSQL with DATABASE_URL). Every agent's device asks for the same artifact at once; the
// figures are ratios:
//   origin bytes / artifact size          how often the origin sent the artifact (target ≤ 1.05)
//   time until every agent has it /        how much longer a whole site waits than one device
//     time of one direct download          alone at the origin (target ≤ 1.5)
// and the same run with the agents started with --no-p2p, as the reference.
//   node scripts/build.mjs && node bench/p2p.mjs        (SIZE_MIB=100 AGENTS=4,8 DATABASE_URL=…)
// Both modes are timed alike: from the moment every device sends its request until the last device
// has the whole, checked body (the agents start with an empty cache each run). CPU seconds are
// given per role: the appliance, all agents together (the busiest one in brackets; "+after" is
// what they still did once the last device was done), the devices; with the number of artifact
// requests the appliance answered.
// REPEAT=n runs every case n times and ends with the best and the median; MODES=p2p or no-p2p runs
// one mode; AGENT_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") is passed to every agent's
// node; AGENT_MAIN runs another build of the agent (to compare two versions against one appliance);
// KEEP_WORK=1 keeps the agents' logs.
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fmt, median, MiB, repoRoot, startAppliance, tempDir } from './lib.mjs';

const SIZE = Number(process.env.SIZE_MIB ?? 100) * MiB;
const AGENT_COUNTS = (process.env.AGENTS ?? '4,8').split(',').map(Number);
const MODES = (process.env.MODES ?? 'p2p,no-p2p').split(',').map((m) => m.trim() === 'p2p');
const REPEAT = Number(process.env.REPEAT ?? 1);
const AGENT_NODE_ARGS = (process.env.AGENT_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
const AGENT_MAIN = process.env.AGENT_MAIN ?? join(repoRoot, 'dist/apps/peer-agent/src/main.js');

const work = tempDir('ota-bench-p2p-');

/** Writes SIZE random bytes and answers their SHA-256. */
async function makeArtifact(file) {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const block = Buffer.alloc(MiB);
  for (let written = 0; written < SIZE; written += block.length) {
    randomFillSync(block);
    const part = written + block.length > SIZE ? block.subarray(0, SIZE - written) : block;
    hash.update(part);
    if (!out.write(part)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return hash.digest('hex');
}

function upload(url, key, file) {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/api/v1/components/bench_p2p/versions/1.0.0`,
      { method: 'PUT', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream', 'content-length': statSync(file).size } },
      (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => (res.statusCode < 300 ? resolve(JSON.parse(body)) : reject(new Error(`upload: HTTP ${res.statusCode} ${body}`))));
      },
    );
    req.on('error', reject);
    pipeline(createReadStream(file, { highWaterMark: MiB }), req).catch(reject);
  });
}

/** A device downloading the whole artifact: answers seconds and the body's SHA-256. */
function download(url) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const hash = createHash('sha256');
    let bytes = 0;
    const req = request(url, { agent: false }, (res) => {
      res.on('data', (part) => {
        bytes += part.length;
        hash.update(part);
      });
      res.on('end', () => resolve({ status: res.statusCode, bytes, sha256: hash.digest('hex'), seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function getText(url) {
  const response = await fetch(url);
  return response.text();
}

/** Artifact bytes the appliance sent, and how many artifact requests it answered. */
async function originCounters(url) {
  const text = await getText(`${url}/metrics`);
  let bytes = 0;
  let requests = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('ota_artifact_bytes_sent_total')) bytes += Number(line.split(/\s+/).at(-1));
    if (line.startsWith('ota_http_requests_total') && line.includes('artifacts')) requests += Number(line.split(/\s+/).at(-1));
  }
  return { bytes, requests };
}

async function startAgent(origin, site, index, p2p) {
  const cache = join(work, `${site}-cache-${index}`);
  const log = createWriteStream(join(work, `${site}-agent-${index}.log`));
  const args = [
    AGENT_MAIN,
    '--origin',
    origin,
    '--site',
    site,
    '--cache',
    cache,
    '--http-host',
    '127.0.0.1',
    '--http-port',
    '0',
    '--p2p-host',
    '127.0.0.1',
    '--p2p-port',
    '0',
    '--no-mdns',
    '--log-level',
    'warn',
  ];
  if (!p2p) args.push('--no-p2p');
  const child = spawn(process.execPath, [...AGENT_NODE_ARGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stderr.pipe(log);
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    once(child, 'exit').then(([code]) => {
      throw new Error(`agent ${index} exited (${code}) before it was ready; see ${join(work, `${site}-agent-${index}.log`)}`);
    }),
  ]);
  const ready = JSON.parse(line);
  return {
    ...ready,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/** The agents' CPU seconds once they have gone quiet (less than 10 ms of CPU in 300 ms), at most 10 s from now. */
async function settledCpu(agents) {
  const deadline = Date.now() + 10_000;
  let last = agents.map((a) => cpuSeconds(a.pid));
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = agents.map((a) => cpuSeconds(a.pid));
    const busy = now.reduce((sum, s, i) => sum + s - last[i], 0);
    last = now;
    if (busy < 0.01 || Date.now() > deadline) return now;
  }
}

async function waitForMesh(agents) {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const health = await Promise.all(agents.map(async (a) => JSON.parse(await getText(`${a.httpUrl}/healthz`))));
    if (health.every((h) => h.peers.length === agents.length - 1)) return;
    if (Date.now() > deadline) throw new Error('the agents did not find each other within 60 s');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** N agents, one device each, all at once: origin bytes and the time until the last device has it. */
async function siteRun(appliance, sha256, count, p2p, run) {
  const site = `bench-${p2p ? 'p2p' : 'direct'}-${count}-${process.pid}-${run}`;
  const agents = await Promise.all(Array.from({ length: count }, (_, i) => startAgent(appliance.url, site, i, p2p)));
  try {
    if (p2p) await waitForMesh(agents);
    const before = await originCounters(appliance.url);
    const cpuBefore = { appliance: cpuSeconds(appliance.pid), agents: agents.map((a) => cpuSeconds(a.pid)), devices: process.cpuUsage() };
    const started = process.hrtime.bigint();
    const downloads = await Promise.all(agents.map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const devices = process.cpuUsage(cpuBefore.devices);
    const agentsAtEnd = agents.map((a) => cpuSeconds(a.pid));
    const perAgent = agentsAtEnd.map((s, i) => s - cpuBefore.agents[i]);
    const cpu = {
      appliance: cpuSeconds(appliance.pid) - cpuBefore.appliance,
      agents: perAgent.reduce((sum, s) => sum + s, 0),
      busiestAgent: Math.max(...perAgent),
      devices: (devices.user + devices.system) / 1e6,
    };
    // Work left over once every device is done (e.g. checking the stored artifact) is work too.
    const agentsSettled = await settledCpu(agents);
    cpu.agentsAfter = agentsSettled.reduce((sum, s, i) => sum + s - agentsAtEnd[i], 0);
    const after = await originCounters(appliance.url);
    const sent = after.bytes - before.bytes;
    const requests = after.requests - before.requests;
    for (const d of downloads) {
      if (d.status !== 200 || d.sha256 !== sha256) throw new Error(`a device got ${d.bytes} bytes with status ${d.status}, sha256 ${d.sha256}`);
    }
    return { sent, requests, seconds, cpu };
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
}

const file = join(work, 'firmware.bin');
const sha256 = await makeArtifact(file);
const appliance = await startAppliance(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {});
try {
  const stored = await upload(appliance.url, appliance.apiKey, file);
  if (stored.sha256 !== sha256) throw new Error('upload checksum mismatch');
  rmSync(file);

  // One device alone at the origin: the reference time (warm-up first, then the median of three).
  await download(`${appliance.url}/artifacts/${sha256}`);
  const direct = [];
  const directCpu = { appliance: cpuSeconds(appliance.pid), device: process.cpuUsage() };
  for (let i = 0; i < 3; i++) direct.push((await download(`${appliance.url}/artifacts/${sha256}`)).seconds);
  const directDevice = process.cpuUsage(directCpu.device);
  const directApplianceCpu = (cpuSeconds(appliance.pid) - directCpu.appliance) / 3;
  const directDeviceCpu = (directDevice.user + directDevice.system) / 1e6 / 3;
  direct.sort((a, b) => a - b);
  const directSeconds = direct[1];

  console.log(
    `p2p bench: ${SIZE / MiB} MiB artifact, appliance on ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded defaults'}; one direct download ${fmt(directSeconds)} s (CPU s: appliance ${fmt(directApplianceCpu)}, device ${fmt(directDeviceCpu)})`,
  );
  console.log('agents  mode     origin bytes / size  site time / direct time  (site time; origin requests; CPU s: appliance, all agents [busiest] +after, devices)');
  const results = new Map();
  for (const count of AGENT_COUNTS) {
    for (const p2p of MODES) {
      for (let run = 0; run < REPEAT; run++) {
        const { sent, requests, seconds, cpu } = await siteRun(appliance, sha256, count, p2p, run);
        const key = `${String(count).padStart(6)}  ${(p2p ? 'p2p' : '--no-p2p').padEnd(8)}`;
        results.set(key, [...(results.get(key) ?? []), { sent, seconds, cpu }]);
        console.log(
          `${key} ${fmt(sent / SIZE, 3).padStart(19)}  ${fmt(seconds / directSeconds).padStart(23)}  ` +
            `(${fmt(seconds)} s; ${requests}; ${fmt(cpu.appliance, 1)}, ${fmt(cpu.agents, 1)} [${fmt(cpu.busiestAgent, 1)}] +${fmt(cpu.agentsAfter, 1)}, ${fmt(cpu.devices, 1)})`,
        );
      }
    }
  }
  if (REPEAT > 1) {
    console.log(`over ${REPEAT} runs: site time / direct time, best and median`);
    for (const [key, runs] of results) {
      const ratios = runs.map((r) => r.seconds / directSeconds);
      console.log(
        `${key} best ${fmt(Math.min(...ratios))}  median ${fmt(median(ratios))}  (site time median ${fmt(median(runs.map((r) => r.seconds)))} s; ` +
          `agents' CPU median ${fmt(median(runs.map((r) => r.cpu.agents)), 1)} s +${fmt(median(runs.map((r) => r.cpu.agentsAfter)), 1)}; max origin bytes / size ${fmt(Math.max(...runs.map((r) => r.sent)) / SIZE, 3)})`,
      );
    }
  }
} finally {
  await appliance.stop();
  if (process.env.KEEP_WORK === '1') console.log(`logs kept in ${work}`);
  else rmSync(work, { recursive: true, force: true });
}
