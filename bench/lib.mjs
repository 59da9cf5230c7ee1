// Shared helpers of the benchmark scripts: start the built appliance and nginx, time HTTP transfers,
// sample a process's RSS. Benchmarks print ratios against a reference run in the same process.
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
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

export async function startAppliance(env = {}) {
  const port = await freePort();
  const mqttPort = await freePort();
  const dataDir = tempDir('ota-bench-');
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
      rmSync(dataDir, { recursive: true, force: true });
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
