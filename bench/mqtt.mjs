// bench/mqtt: the embedded broker under 10,000 device connections (default), in one run:
//  - connections held and the appliance's RSS with them;
//  - check → offer round trips per second and p99 latency while they are all connected;
//  - announce fan-out: time until every connected device has a rollout's announcement;
//  - the same subscribe/fan-out through Mosquitto (started here on a free port) as the reference.
//   npm run bench:mqtt        (DEVICES=10000 CHECKERS=100 CHECK_SECONDS=10)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { fmt, freePort, MiB, rssBytes, startAppliance, tempDir } from './lib.mjs';

const DEVICES = Number(process.env.DEVICES ?? 10_000);
const CHECKERS = Number(process.env.CHECKERS ?? 100);
const CHECK_SECONDS = Number(process.env.CHECK_SECONDS ?? 10);
const CONNECT_CONCURRENCY = 200;
const key = 'bench-admin-key-0123456789';

function connect(url, clientId) {
  return new Promise((resolve, reject) => {
    const client = mqtt.connect(url, { clientId, protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 60_000, keepalive: 600 });
    client.once('connect', () => resolve(client));
    client.once('error', reject);
  });
}

/** Connects `count` clients, `CONNECT_CONCURRENCY` at a time, each subscribing to `topics(id)`. */
async function connectAll(url, count, prefix, topics) {
  const clients = new Array(count);
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONNECT_CONCURRENCY }, async () => {
      while (next < count) {
        const i = next++;
        const id = `${prefix}${i}`;
        const client = await connect(url, id);
        await client.subscribeAsync(topics(id), { qos: 1 });
        clients[i] = client;
      }
    }),
  );
  return { clients, seconds: Number(process.hrtime.bigint() - started) / 1e9 };
}

/** Resolves with [first, last] arrival times (hrtime ns) once every client got a message on `topic`. */
function fanOut(clients, topic) {
  return new Promise((resolve) => {
    let remaining = clients.length;
    let first;
    for (const client of clients) {
      const onMessage = (received) => {
        if (received !== topic) return;
        client.off('message', onMessage);
        const now = process.hrtime.bigint();
        first ??= now;
        if (--remaining === 0) resolve([first, now]);
      };
      client.on('message', onMessage);
    }
  });
}

async function endAll(clients) {
  await Promise.all(clients.filter(Boolean).map((client) => client.endAsync(true).catch(() => undefined)));
}

async function api(base, method, path, body) {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': body instanceof Buffer ? 'application/octet-stream' : 'application/json' },
    body: body === undefined ? undefined : body instanceof Buffer ? body : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

async function startMosquitto() {
  const dir = tempDir('ota-bench-mosquitto-');
  const port = await freePort();
  writeFileSync(join(dir, 'mosquitto.conf'), `listener ${port} 127.0.0.1\nallow_anonymous true\nmax_connections -1\npersistence false\nmax_queued_messages 1000\n`);
  const child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    try {
      const probe = await connect(`mqtt://127.0.0.1:${port}`, 'probe');
      await probe.endAsync(true);
      break;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url: `mqtt://127.0.0.1:${port}`,
    pid: child.pid,
    async stop() {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const appliance = await startAppliance({ ADMIN_API_KEY: key, MQTT_MAX_PUBLISH_PER_SECOND: '1000', ROLLOUT_TICK_SECONDS: '3600' });
let clients = [];
let mosquitto;
try {
  await api(appliance.url, 'PUT', '/api/v1/components/os_armv8/versions/1.0.0', Buffer.from('old'));
  await api(appliance.url, 'PUT', '/api/v1/components/os_armv8/versions/2.0.0', Buffer.from('new'));
  await api(appliance.url, 'PUT', '/api/v1/components/os_armv8/channels/prod', { version: '1.0.0' });
  const url = `mqtt://127.0.0.1:${appliance.mqttPort}`;
  const idleRss = rssBytes(appliance.pid);

  const connected = await connectAll(url, DEVICES, 'bench-', (id) => [`ota/v1/devices/${id}/offer`, 'ota/v1/announce']);
  clients = connected.clients;
  await new Promise((resolve) => setTimeout(resolve, 3000)); // the appliance records "last seen" in batches
  const heldRss = rssBytes(appliance.pid);

  // Closed loop: each checker sends its next check when the previous offer arrives.
  const latencies = [];
  const deadline = Date.now() + CHECK_SECONDS * 1000;
  await Promise.all(
    clients.slice(0, CHECKERS).map(async (client) => {
      const id = client.options.clientId;
      let request = 0;
      while (Date.now() < deadline) {
        const requestId = `${id}-${request++}`;
        const answered = new Promise((resolve) => {
          const onMessage = (topic, payload) => {
            if (topic !== `ota/v1/devices/${id}/offer` || JSON.parse(payload.toString()).requestId !== requestId) return;
            client.off('message', onMessage);
            resolve();
          };
          client.on('message', onMessage);
        });
        const sent = process.hrtime.bigint();
        client.publish(`ota/v1/devices/${id}/check`, JSON.stringify({ requestId, attributes: { cpuArch: 'armv8' }, installed: [] }), { qos: 1 });
        await answered;
        latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const checksPerSecond = latencies.length / CHECK_SECONDS;
  const p99 = latencies[Math.floor(latencies.length * 0.99)];

  // Announce fan-out through a real rollout: its first phase opening announces to every device.
  const arrived = fanOut(clients, 'ota/v1/announce');
  const posted = process.hrtime.bigint();
  await api(appliance.url, 'POST', '/api/v1/rollouts', {
    component: 'os_armv8',
    channel: 'prod',
    version: '2.0.0',
    maxFailureRate: 0.5,
    minReports: 10,
    jitterSeconds: 0,
    phases: [
      { percent: 10, holdSeconds: 3600 },
      { percent: 100, holdSeconds: 0 },
    ],
  });
  const [firstAnnounce, lastAnnounce] = await arrived;
  const applianceFanOut = Number(lastAnnounce - posted) / 1e6;
  const applianceSpread = Number(lastAnnounce - firstAnnounce) / 1e6;
  await endAll(clients);
  clients = [];
  await appliance.stop();

  mosquitto = await startMosquitto();
  const reference = await connectAll(mosquitto.url, DEVICES, 'bench-', () => ['ota/v1/announce']);
  clients = reference.clients;
  const mosquittoRss = rssBytes(mosquitto.pid);
  const publisher = await connect(mosquitto.url, 'bench-publisher');
  const referenceArrived = fanOut(clients, 'ota/v1/announce');
  const published = process.hrtime.bigint();
  publisher.publish('ota/v1/announce', JSON.stringify({ component: 'os_armv8', channel: 'prod', version: '2.0.0', selectors: {}, maxCohort: 10, jitterSeconds: 0 }), { qos: 1 });
  const [refFirst, refLast] = await referenceArrived;
  const mosquittoFanOut = Number(refLast - published) / 1e6;
  const mosquittoSpread = Number(refLast - refFirst) / 1e6;
  await publisher.endAsync(true);

  process.stdout.write(
    [
      `bench/mqtt — ${DEVICES} MQTT 3.1.1 devices on loopback, embedded appliance defaults, ${new Date().toISOString().slice(0, 10)}`,
      `connections: ${DEVICES} held (connect + subscribe took ${fmt(connected.seconds, 1)} s; Mosquitto ${fmt(reference.seconds, 1)} s); appliance RSS ${fmt(idleRss / MiB, 0)} MiB idle → ${fmt(heldRss / MiB, 0)} MiB with them (${fmt((heldRss - idleRss) / DEVICES / 1024, 1)} KiB per connection); Mosquitto RSS ${fmt(mosquittoRss / MiB, 0)} MiB`,
      `check → offer: ${fmt(checksPerSecond, 0)} round trips/s from ${CHECKERS} devices in a closed loop while all ${DEVICES} are connected; p50 ${fmt(latencies[Math.floor(latencies.length / 2)], 1)} ms, p99 ${fmt(p99, 1)} ms`,
      `announce fan-out to ${DEVICES}: ${fmt(applianceFanOut, 0)} ms from POST /rollouts to the last device (first to last arrival ${fmt(applianceSpread, 0)} ms); Mosquitto publish → last device ${fmt(mosquittoFanOut, 0)} ms (first to last ${fmt(mosquittoSpread, 0)} ms); ratio appliance/Mosquitto ${fmt(applianceFanOut / mosquittoFanOut, 2)} (arrival spread ${fmt(applianceSpread / mosquittoSpread, 2)})`,
    ].join('\n') + '\n',
  );
} finally {
  await endAll(clients);
  await appliance.stop().catch(() => undefined);
  await mosquitto?.stop();
}
