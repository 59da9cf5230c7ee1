// Shared helpers of the benchmark scripts: start the built appliance and nginx, time HTTP transfers,
// sample a process's RSS. Benchmarks print ratios against a reference run in the same process.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..');

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}

export function rssBytes(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)[1]) * 1024;
}

/** Samples a process's RSS every 20 ms while `work` runs; answers the peak. */
export async function peakRss(pid, work) {
  let peak = rssBytes(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssBytes(pid));
    } catch {}
  }, 20);
  try {
    await work();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssBytes(pid));
}

/**
 * Starts the built appliance on free ports; answers once it listens. A `dataDir` of the caller's is
 * kept on stop (to start again on the same data); otherwise a temporary one is made and removed.
 */
export async function startAppliance(env = {}, { dataDir: givenDataDir } = {}) {
  const port = await freePort();
  const mqttPort = await freePort();
  const dataDir = givenDataDir ?? tempDir('ota-bench-');
  const child = spawn(process.execPath, [join(repoRoot, 'dist/apps/server/src/main.js')], {
    env: {
      PATH: process.env.PATH,
      PORT: String(port),
      BIND_ADDRESS: '127.0.0.1',
      DATA_DIR: dataDir,
      ADMIN_API_KEY: 'bench-admin-key-0123456789',
      LOG_LEVEL: 'warn',
      MQTT_PORT: String(mqttPort),
      MQTT_WS_PORT: String(await freePort()),
      ...env,
    },
    stdio: ['ignore', 'inherit', 'pipe'],
  });
  let output = '';
  child.stderr.on('data', (data) => (output += data));
  const deadline = Date.now() + 60_000;
  while (!output.includes('listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`appliance did not start:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  let stopped = false;
  return {
    url: `http://127.0.0.1:${port}`,
    mqttPort,
    pid: child.pid,
    apiKey: env.ADMIN_API_KEY ?? 'bench-admin-key-0123456789',
    dataDir,
    async stop() {
      if (stopped) return;
      stopped = true;
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
      if (!givenDataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** nginx from Debian's package serving `root` on a free port, as configured for static files in production. */
export async function startNginx(root, extraHttp = '') {
  const prefix = tempDir('ota-bench-nginx-');
  mkdirSync(join(prefix, 'logs'));
  const port = await freePort();
  writeFileSync(
    join(prefix, 'nginx.conf'),
    `worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { application/json json; application/octet-stream bin; }
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy; fastcgi_temp_path ${prefix}/fcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  ${extraHttp}
  server { listen 127.0.0.1:${port}; root ${root}; }
}
`,
  );
  const nginx = existsBinary('nginx') ? 'nginx' : '/usr/sbin/nginx';
  const child = spawn(nginx, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'inherit' });
  for (let i = 0; i < 100; i++) {
    try {
      await httpGet(`http://127.0.0.1:${port}/__probe__`);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      child.kill('SIGQUIT');
      await once(child, 'exit');
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

function existsBinary(name) {
  try {
    execFileSync('which', [name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** GET that discards the body; answers status, bytes and seconds. */
export function httpGet(url, headers = {}) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    let firstByte;
    const req = request(url, { headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => {
        firstByte ??= process.hrtime.bigint();
        bytes += chunk.length;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode,
          bytes,
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          firstByteSeconds: Number((firstByte ?? process.hrtime.bigint()) - started) / 1e9,
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export const MiB = 1024 * 1024;
export const fmt = (n, digits = 2) => n.toFixed(digits);
export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/**
 * wrk (C, epoll) as the load generator for request rates: a load generator written in Node
 * saturates its own core well below what nginx serves, which flatters every ratio against nginx.
 * Installed from Debian when missing and running as root; otherwise the error says how.
 */
export function ensureWrk() {
  if (existsBinary('wrk')) return 'wrk';
  if (process.getuid?.() === 0 && existsBinary('apt-get')) {
    process.stderr.write('wrk is missing: apt-get install -y wrk\n');
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    return 'wrk';
  }
  throw new Error('this benchmark needs wrk: run `sudo apt-get install -y wrk` (Debian/Ubuntu) or install it from https://github.com/wg/wrk');
}

/** `taskset -c <cpus>` in front of a command, or nothing when `cpus` is undefined. */
export function pinned(cpus, command, args) {
  return cpus === undefined ? [command, args] : ['taskset', ['-c', cpus, command, ...args]];
}

/** Moves a running process, every thread and every child process (nginx's workers) onto `cpus`. */
export function pinProcessTree(pid, cpus) {
  execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const children = readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim();
    for (const child of children ? children.split(/\s+/) : []) pinProcessTree(Number(child), cpus);
  }
}

const WRK_UNITS = { us: 1e-3, ms: 1, s: 1000 };

/**
 * Runs wrk against `url` (with a Lua `script` when given); answers requests, requests/s, p50/p99
 * latency (ms), non-2xx/3xx answers and socket errors.
 */
export async function runWrk(url, { threads, connections, durationSeconds, cpus, script }) {
  const options = [`-t${threads}`, `-c${connections}`, `-d${durationSeconds}s`, '--latency', ...(script ? ['-s', script] : [])];
  const [command, args] = pinned(cpus, 'wrk', [...options, url]);
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (data) => (output += data));
  const [code] = await once(child, 'exit');
  if (code !== 0) throw new Error(`wrk exited with ${code}:\n${output}`);
  const latency = (percentile) => {
    const match = new RegExp(`^\\s*${percentile}%\\s+([\\d.]+)(us|ms|s)\\s*$`, 'm').exec(output);
    if (!match) throw new Error(`no ${percentile}% latency in wrk's output:\n${output}`);
    return Number(match[1]) * WRK_UNITS[match[2]];
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requests: Number(/(\d+) requests in /.exec(output)[1]),
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)[1]),
    p50Ms: latency(50),
    p99Ms: latency(99),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0,
  };
}

/** A bare Node `http.createServer` answering every request with `body` and `headers`: the ceiling of any Node server here. */
export async function startBareNode(body, headers) {
  const port = await freePort();
  const child = spawn(process.execPath, [join(repoRoot, 'bench/bare-node-server.mjs'), String(port)], { stdio: ['pipe', 'inherit', 'inherit'] });
  child.stdin.end(JSON.stringify({ body: body.toString('base64'), headers }));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await httpGet(`${url}/`);
      break;
    } catch (error) {
      if (i === 100 || child.exitCode !== null) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  return {
    url,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    },
  };
}
