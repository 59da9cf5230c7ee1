// bench/p2p: a site of N peer agents in front of one appliance (the built one; embedded defaults,
// or PostgreSQL with DATABASE_URL). Every agent's device asks for the same artifact at once; the
// figures are ratios:
//   origin bytes / artifact size          how often the origin sent the artifact (target ≤ 1.05)
//   time until every agent has it /        how much longer a whole site waits than one device
//     time of one direct download          alone at the origin (target ≤ 1.5)
// and the same run with the agents started with --no-p2p, as the reference.
//   node scripts/build.mjs && node bench/p2p.mjs        (SIZE_MIB=100 AGENTS=4,8 DATABASE_URL=…)
import { spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, readFileSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { fmt, MiB, repoRoot, startAppliance, tempDir } from './lib.mjs';

const SIZE = Number(process.env.SIZE_MIB ?? 100) * MiB;
const AGENT_COUNTS = (process.env.AGENTS ?? '4,8').split(',').map(Number);
const AGENT_MAIN = join(repoRoot, 'dist/apps/peer-agent/src/main.js');

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

async function originBytes(url) {
  const text = await getText(`${url}/metrics`);
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('ota_artifact_bytes_sent_total')) sum += Number(line.split(/\s+/).at(-1));
  return sum;
}

async function startAgent(origin, site, index, p2p) {
  const cache = join(work, `${site}-cache-${index}`);
  const log = createWriteStream(join(work, `${site}-agent-${index}.log`));
  const args = [AGENT_MAIN, '--origin', origin, '--site', site, '--cache', cache, '--http-host', '127.0.0.1', '--http-port', '0', '--p2p-host', '127.0.0.1', '--p2p-port', '0', '--no-mdns', '--log-level', 'warn'];
  if (!p2p) args.push('--no-p2p');
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
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
async function siteRun(appliance, sha256, count, p2p) {
  const site = `bench-${p2p ? 'p2p' : 'direct'}-${count}-${process.pid}`;
  const agents = await Promise.all(Array.from({ length: count }, (_, i) => startAgent(appliance.url, site, i, p2p)));
  try {
    if (p2p) await waitForMesh(agents);
    const before = await originBytes(appliance.url);
    const cpuBefore = { appliance: cpuSeconds(appliance.pid), agents: agents.map((a) => cpuSeconds(a.pid)), devices: process.cpuUsage() };
    const started = process.hrtime.bigint();
    const downloads = await Promise.all(agents.map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const devices = process.cpuUsage(cpuBefore.devices);
    const cpu = {
      appliance: cpuSeconds(appliance.pid) - cpuBefore.appliance,
      agents: agents.reduce((sum, a, i) => sum + cpuSeconds(a.pid) - cpuBefore.agents[i], 0),
      devices: (devices.user + devices.system) / 1e6,
    };
    const sent = (await originBytes(appliance.url)) - before;
    for (const d of downloads) {
      if (d.status !== 200 || d.sha256 !== sha256) throw new Error(`a device got ${d.bytes} bytes with status ${d.status}, sha256 ${d.sha256}`);
    }
    return { sent, seconds, cpu };
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
  for (let i = 0; i < 3; i++) direct.push((await download(`${appliance.url}/artifacts/${sha256}`)).seconds);
  direct.sort((a, b) => a - b);
  const directSeconds = direct[1];

  console.log(`p2p bench: ${SIZE / MiB} MiB artifact, appliance on ${process.env.DATABASE_URL ? 'PostgreSQL' : 'embedded defaults'}; one direct download ${fmt(directSeconds)} s`);
  console.log('agents  mode     origin bytes / size  site time / direct time  (site time; CPU s: appliance, all agents, devices)');
  for (const count of AGENT_COUNTS) {
    for (const p2p of [true, false]) {
      const { sent, seconds, cpu } = await siteRun(appliance, sha256, count, p2p);
      console.log(
        `${String(count).padStart(6)}  ${(p2p ? 'p2p' : '--no-p2p').padEnd(8)} ${fmt(sent / SIZE, 3).padStart(19)}  ${fmt(seconds / directSeconds).padStart(23)}  ` +
          `(${fmt(seconds)} s; ${fmt(cpu.appliance, 1)}, ${fmt(cpu.agents, 1)}, ${fmt(cpu.devices, 1)})`,
      );
    }
  }
} finally {
  await appliance.stop();
  rmSync(work, { recursive: true, force: true });
}
