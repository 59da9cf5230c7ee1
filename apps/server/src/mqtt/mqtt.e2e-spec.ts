import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { Client } from 'pg';
import { databaseOf } from '@test/support/database';
import { startTestApp, type TestApp } from '@test/support/app';
import { getJson, sendJson } from '@test/support/http';
import { closed, connectDevice, endAll, nextMessage, publish, subscribe } from '@test/support/mqtt';
import { loadSampleData, type SampleArtifact } from '@test/support/sample';
import { sleep, until } from '@test/support/wait';
import { DomainError } from '../common/domain-error';
import { PackageService } from '../packages/package.service';
import { AnnounceService } from './announce.service';
import { MqttService } from './mqtt.service';

const run = promisify(execFile);

describe('MQTT device channel (embedded broker)', () => {
  let appliance: TestApp;
  let sample: Map<string, SampleArtifact>;
  let tcpUrl: string;
  let wsUrl: string;
  let port: number;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { MQTT_MAX_PACKET_BYTES: String(256 * 1024), MQTT_MAX_PUBLISH_PER_SECOND: '20' } });
    sample = await loadSampleData(appliance.url);
    const ports = appliance.app.get(MqttService).ports;
    port = ports.tcp;
    tcpUrl = `mqtt://127.0.0.1:${ports.tcp}`;
    wsUrl = `ws://127.0.0.1:${ports.ws}/mqtt`;
  });

  afterAll(async () => appliance.dispose());

  async function check(url: string, deviceId: string, body: unknown) {
    const device = await connectDevice(url, deviceId);
    try {
      expect(await subscribe(device, `ota/v1/devices/${deviceId}/offer`)).toBe(1);
      const offer = nextMessage(device, `ota/v1/devices/${deviceId}/offer`);
      await publish(device, `ota/v1/devices/${deviceId}/check`, typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body));
      return await offer;
    } finally {
      await endAll(device);
    }
  }

  it('answers a check with exactly what GET /package?payloadType=metadataOnly answers', async () => {
    const os = sample.get('os_armv8@1.1.0')!;
    const offer = await check(tcpUrl, 'mqtt-dev-1', {
      requestId: 'r-1',
      attributes: { cpuArch: 'armv8', attrGamer: 'prod', attrCellular: 'prod' },
      installed: [
        { component: 'os_armv8', md5: os.md5 },
        { component: 'ipModule', version: '5.6.14' },
      ],
    });
    const http = await fetch(`${appliance.url}/package?cpuArch=armv8&attrGamer=prod&attrCellular=prod&installed=ipModule@5.6.14&payloadType=metadataOnly`, {
      headers: { 'if-none-match': os.md5 },
    });
    expect(offer).toEqual({ requestId: 'r-1', status: 200, components: await http.json() });
    expect(offer.components.os_armv8.status_code).toBe(304);
  });

  it('works over WebSocket at /mqtt', async () => {
    const offer = await check(wsUrl, 'mqtt-ws-1', { requestId: 'w', attributes: { cpuArch: 'armv7' }, installed: [] });
    expect(offer).toMatchObject({ requestId: 'w', status: 200, components: { os_armv7: { latestVersion: '1.0.0', status_code: 200 } } });
  });

  it('works with Debian’s mosquitto_pub and mosquitto_sub as the device', async () => {
    const base = ['-V', '311', '-h', '127.0.0.1', '-p', String(port), '-i', 'shell-dev', '-q', '1', '-c'];
    // A persistent session keeps the offer for the device while it publishes its check.
    await run('mosquitto_sub', [...base, '-t', 'ota/v1/devices/shell-dev/offer', '-E']);
    await run('mosquitto_pub', [...base, '-t', 'ota/v1/devices/shell-dev/check', '-m', '{"requestId":"sh","attributes":{"cpuArch":"armv8","os":"beta"},"installed":[]}']);
    const { stdout } = await run('mosquitto_sub', [...base, '-t', 'ota/v1/devices/shell-dev/offer', '-C', '1', '-W', '10']);
    expect(JSON.parse(stdout)).toMatchObject({ requestId: 'sh', status: 200, components: { os_armv8: { latestVersion: '2.0.0' } } });

    await run('mosquitto_pub', [...base, '-t', 'ota/v1/devices/shell-dev/status', '-m', '{"component":"os_armv8","version":"2.0.0","state":"installed"}']);
    await expectEventually(
      async () => (await getJson(`${appliance.url}/api/v1/devices/shell-dev`)).body?.installed,
      [expect.objectContaining({ component: 'os_armv8', version: '2.0.0' })],
    );
  });

  it('answers a check sent by Debian’s mosquitto_rr -V 311, as docs/mqtt.md shows', async () => {
    const { stdout } = await run('mosquitto_rr', [
      ...['-V', '311', '-h', '127.0.0.1', '-p', String(port), '-i', 'rr-311', '-q', '1'],
      ...['-t', 'ota/v1/devices/rr-311/check', '-e', 'ota/v1/devices/rr-311/offer', '-W', '10'],
      ...['-m', '{"requestId":"rr","attributes":{"cpuArch":"armv8"},"installed":[]}'],
    ]);
    expect(JSON.parse(stdout)).toMatchObject({ requestId: 'rr', status: 200, components: { os_armv8: { latestVersion: '1.1.0' } } });
  });

  it.each([
    ['not JSON', 'this is not json'],
    ['200 kB of random bytes', randomBytes(200 * 1024)],
    ['wrong types', JSON.stringify({ requestId: 'bad', attributes: 'armv8', installed: 7 })],
    ['a missing cpuArch', JSON.stringify({ requestId: 'no-arch', attributes: { os: 'beta' }, installed: [] })],
  ])('answers %s with a 400 offer and keeps serving', async (_label, payload) => {
    const offer = await check(tcpUrl, 'garbage-dev', payload);
    expect(offer.status).toBe(400);
    expect(typeof offer.message).toBe('string');
    const good = await check(tcpUrl, 'after-garbage', { requestId: 'ok', attributes: { cpuArch: 'armv8' }, installed: [] });
    expect(good.status).toBe(200);
  });

  it('answers 404 in the offer when nothing matches', async () => {
    const offer = await check(tcpUrl, 'nothing-dev', { requestId: 'n', attributes: { cpuArch: 'sparc' }, installed: [] });
    expect(offer).toMatchObject({ requestId: 'n', status: 404 });
  });

  it('answers a check whose answer a store cannot give with a 503 offer and retryAfter, and any other fault with a 500 offer, never silence', async () => {
    // Nothing behind a check reaches a store today (the catalog and the download URLs are in memory):
    // the faults are injected where a store would surface, a real driver error from a refused connection.
    const refused: unknown = await new Client({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' }).connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(refused).toMatchObject({ code: 'ECONNREFUSED' });
    const details = jest.spyOn(appliance.app.get(PackageService), 'details');
    try {
      details.mockRejectedValueOnce(refused);
      const outage = await check(tcpUrl, 'store-down-dev', { requestId: 's-1', attributes: { cpuArch: 'armv8' }, installed: [] });
      expect(outage).toEqual({ requestId: 's-1', status: 503, message: expect.stringContaining('try again'), retryAfter: 5 });

      details.mockRejectedValueOnce(new DomainError('Unavailable', 'the database cannot be reached right now; try again in a few seconds', { retryAfterSeconds: 7 }));
      const unavailable = await check(tcpUrl, 'store-down-dev', { requestId: 's-2', attributes: { cpuArch: 'armv8' }, installed: [] });
      expect(unavailable).toEqual({ requestId: 's-2', status: 503, message: expect.stringContaining('try again'), retryAfter: 7 });

      details.mockRejectedValueOnce(new TypeError('a fault of the appliance'));
      const fault = await check(tcpUrl, 'store-down-dev', { requestId: 's-3', attributes: { cpuArch: 'armv8' }, installed: [] });
      expect(fault).toEqual({ requestId: 's-3', status: 500, message: 'internal error; the appliance log has the details' });
    } finally {
      details.mockRestore();
    }
    const recovered = await check(tcpUrl, 'store-down-dev', { requestId: 's-4', attributes: { cpuArch: 'armv8' }, installed: [] });
    expect(recovered).toMatchObject({ requestId: 's-4', status: 200 });
  });

  it('does not let one device subscribe to another’s offers or write its status', async () => {
    const one = await connectDevice(tcpUrl, 'acl-1');
    const two = await connectDevice(tcpUrl, 'acl-2');
    try {
      expect(await subscribe(two, 'ota/v1/devices/acl-1/offer')).toBe(128);
      expect(await subscribe(two, 'ota/v1/devices/+/offer')).toBe(128);
      expect(await subscribe(two, '#')).toBe(128);
      expect(await subscribe(two, 'ota/v1/announce')).toBe(1);

      const cut = closed(two);
      two.publish('ota/v1/devices/acl-1/status', JSON.stringify({ component: 'os_armv8', version: '9.9.9', state: 'installed' }), { qos: 1 });
      await cut;
      expect(one.connected).toBe(true);
      const device = await getJson(`${appliance.url}/api/v1/devices/acl-1`);
      expect(device.body?.history ?? []).toEqual([]);
    } finally {
      await endAll(one, two);
    }
  });

  it('stores a status report once, even when it is delivered twice', async () => {
    const device = await connectDevice(tcpUrl, 'status-dev');
    try {
      const report = JSON.stringify({ component: 'scoreboard', version: '1.0.0', state: 'installed', reportId: 'once' });
      await publish(device, 'ota/v1/devices/status-dev/status', report);
      await publish(device, 'ota/v1/devices/status-dev/status', report);
      await publish(device, 'ota/v1/devices/status-dev/status', JSON.stringify({ component: 'scoreboard', version: '1.0.0', state: 'downloading' }));
    } finally {
      await endAll(device);
    }
    await expectEventually(async () => (await getJson(`${appliance.url}/api/v1/devices/status-dev`)).body?.history?.length, 2);
  });

  it('keeps an acknowledged status report when the database is briefly down', async () => {
    const dataSource = databaseOf(appliance);
    const database = new URL(appliance.env.DATABASE_URL).pathname.slice(1);
    const admin = new Client({ connectionString: appliance.env.DATABASE_URL.replace(`/${database}`, '/postgres') });
    await admin.connect();
    const device = await connectDevice(tcpUrl, 'outage-dev');
    try {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
      // The PUBACK arrives although the database refuses connections.
      await publish(device, 'ota/v1/devices/outage-dev/status', JSON.stringify({ component: 'os_armv8', version: '1.1.0', state: 'failed', detail: 'during outage' }));
      // Time passes on purpose: the outage lasts long enough for the appliance's first writes to fail.
      await sleep(1500);
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await expectEventually(
        async () => (await dataSource.query(`SELECT state, detail FROM status_reports WHERE device_id = 'outage-dev'`).catch(() => [])) as unknown[],
        [{ state: 'failed', detail: 'during outage' }],
        15_000,
      );
    } finally {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await admin.end();
      await endAll(device);
    }
  });

  it('disconnects a client that sends a packet over the limit, and keeps serving the others', async () => {
    const bystander = await connectDevice(tcpUrl, 'bystander');
    const big = await connectDevice(tcpUrl, 'big-sender');
    try {
      const cut = closed(big);
      big.publish('ota/v1/devices/big-sender/check', Buffer.alloc(300 * 1024, 120), { qos: 0 });
      await cut;
      expect(bystander.connected).toBe(true);
      const offer = await check(tcpUrl, 'after-big', { requestId: 'x', attributes: { cpuArch: 'armv8' }, installed: [] });
      expect(offer.status).toBe(200);
    } finally {
      await endAll(bystander, big);
    }
  });

  it('disconnects a client that publishes faster than the per-client limit', async () => {
    const flooder = await connectDevice(tcpUrl, 'flooder');
    const cut = closed(flooder, 10_000);
    for (let i = 0; i < 100; i++)
      flooder.publish('ota/v1/devices/flooder/status', JSON.stringify({ component: 'os_armv8', version: '1.0.0', state: 'downloading', reportId: `f${i}` }), { qos: 0 });
    await cut;
    const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
    expect(metrics).toMatch(/ota_mqtt_refused_total\{reason="rate-limit"\} [1-9]/);
    await endAll(flooder);
  });

  it('refuses a client id that cannot be a device id', async () => {
    await expect(connectDevice(tcpUrl, 'bad/id')).rejects.toThrow(/Identifier rejected|identifier/i);
  });

  it('refuses an empty client id with CONNACK 2 (MQTT-3.1.3-8), which Aedes would otherwise replace with a random one', async () => {
    await expect(connectDevice(tcpUrl, '')).rejects.toThrow(/Identifier rejected/i);
    // mqtt.js and mosquitto_sub refuse to send an empty id without a clean session: raw CONNECT packets.
    expect(await rawConnect(port, { clientId: '', clean: true })).toBe(2);
    expect(await rawConnect(port, { clientId: '', clean: false })).toBe(2);
    expect(await rawConnect(port, { clientId: 'raw-dev', clean: false })).toBe(0);
  });

  it('refuses MQTT 5.0 with a CONNACK, cleanly', async () => {
    await expect(connectDevice(tcpUrl, 'v5-dev', { protocolVersion: 5 })).rejects.toThrow(/protocol version/i);
    // mosquitto_rr speaks 5.0 unless told -V 311.
    const v5 = run('mosquitto_rr', [
      '-h',
      '127.0.0.1',
      '-p',
      String(port),
      '-i',
      'rr-dev',
      '-t',
      'ota/v1/devices/rr-dev/check',
      '-e',
      'ota/v1/devices/rr-dev/offer',
      '-m',
      '{}',
      '-W',
      '5',
    ]);
    await expect(v5).rejects.toMatchObject({ stderr: expect.stringMatching(/unsupported protocol version/i) });
  });

  it('marks a device that only holds a subscription as seen', async () => {
    const device = await connectDevice(tcpUrl, 'quiet-listener');
    try {
      await subscribe(device, 'ota/v1/announce');
      const seen = await until(
        () => getJson(`${appliance.url}/api/v1/devices/quiet-listener`),
        (answer) => answer.status === 200 && typeof answer.body?.lastSeenAt === 'string',
      );
      expect(seen.body).toMatchObject({ id: 'quiet-listener', lastSeenAt: expect.any(String) });
    } finally {
      await endAll(device);
    }
  });

  it('answers a retained check like any other, keeps the device connected and retains nothing', async () => {
    const device = await connectDevice(tcpUrl, 'retaining-dev');
    try {
      await subscribe(device, 'ota/v1/devices/retaining-dev/offer');
      const offer = nextMessage(device, 'ota/v1/devices/retaining-dev/offer');
      device.publish('ota/v1/devices/retaining-dev/check', JSON.stringify({ requestId: 'kept?', attributes: { cpuArch: 'armv8' }, installed: [] }), { qos: 1, retain: true });
      expect(await offer).toMatchObject({ requestId: 'kept?', status: 200 });
      expect(device.connected).toBe(true);
      const retained = await retainedMessages(appliance, 'ota/v1/devices/retaining-dev/#');
      expect(retained).toEqual([]);
      const again = nextMessage(device, 'ota/v1/devices/retaining-dev/offer');
      await publish(device, 'ota/v1/devices/retaining-dev/check', JSON.stringify({ requestId: 'after', attributes: { cpuArch: 'armv8' }, installed: [] }));
      expect(await again).toMatchObject({ requestId: 'after', status: 200 });
    } finally {
      await endAll(device);
    }
  });

  it('delivers announcements to subscribed devices', async () => {
    const device = await connectDevice(tcpUrl, 'listener');
    try {
      await subscribe(device, 'ota/v1/announce');
      const received = nextMessage(device, 'ota/v1/announce');
      const announcement = { component: 'os_armv8', channel: 'prod', version: '2.0.0', selectors: {}, maxCohort: 10, jitterSeconds: 30 };
      await appliance.app.get(AnnounceService).announce(announcement);
      expect(await received).toEqual(announcement);
    } finally {
      await endAll(device);
    }
  });
});

describe('MQTT with DEVICE_AUTH=token', () => {
  let appliance: TestApp;
  let url: string;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { DEVICE_AUTH: 'token' } });
    url = `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`;
  });

  afterAll(async () => appliance.dispose());

  it('accepts a registered device with its token and refuses unknown devices and wrong tokens', async () => {
    const { body } = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'tok-1' });
    const ok = await connectDevice(url, 'tok-1', { username: 'tok-1', password: body.token });
    await endAll(ok);
    await expect(connectDevice(url, 'tok-1', { username: 'tok-1', password: 'dev_wrong' })).rejects.toThrow(/Bad username or password/i);
    await expect(connectDevice(url, 'tok-9', { username: 'tok-9', password: body.token })).rejects.toThrow(/Bad username or password/i);
    await expect(connectDevice(url, 'tok-1', { username: 'someone-else', password: body.token })).rejects.toThrow(/Bad username or password/i);
    await expect(connectDevice(url, 'tok-1')).rejects.toThrow(/Bad username or password/i);
  });
});

/**
 * Sends a hand-made MQTT 3.1.1 CONNECT (clients refuse to send some of the packets under test) and
 * answers the CONNACK return code; after a refusal it waits for the broker to close the connection.
 */
function rawConnect(port: number, options: { clientId: string; clean: boolean }): Promise<number> {
  const id = Buffer.from(options.clientId, 'utf8');
  const variableHeader = Buffer.from([0x00, 0x04, ...Buffer.from('MQTT'), 0x04, options.clean ? 0x02 : 0x00, 0x00, 0x3c]);
  const body = Buffer.concat([variableHeader, Buffer.from([id.length >> 8, id.length & 0xff]), id]);
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from([0x10, body.length]), body])));
    const timer = setTimeout(() => socket.destroy(new Error('no CONNACK, or no close after a refusal, within 5 s')), 5000);
    let received = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      // An accepted client stays connected: answer without waiting for a close that does not come.
      if (received.length >= 4 && received[3] === 0) socket.end();
    });
    socket.on('error', reject);
    socket.on('close', () => {
      clearTimeout(timer);
      if (received.length < 4 || received[0] !== 0x20 || received[1] !== 0x02) reject(new Error(`no CONNACK: ${received.toString('hex')}`));
      else resolve(received[3]);
    });
  });
}

/** The retained messages the broker holds under `pattern` (its persistence is private to it). */
async function retainedMessages(appliance: TestApp, pattern: string): Promise<string[]> {
  const broker = appliance.app.get(MqttService)['broker'] as unknown as { aedes: { persistence: { createRetainedStream(pattern: string): AsyncIterable<{ topic: string }> } } };
  const topics: string[] = [];
  for await (const packet of broker.aedes.persistence.createRetainedStream(pattern)) topics.push(packet.topic);
  return topics;
}

/** Polls `probe` until it answers `expected` (equal as toEqual has it), then asserts on its last answer. */
async function expectEventually<T>(probe: () => Promise<T>, expected: unknown, timeoutMs = 5000): Promise<void> {
  const isExpected = (value: T) => {
    try {
      expect(value).toEqual(expected);
      return true;
    } catch {
      return false;
    }
  };
  expect(await until(probe, isExpected, timeoutMs)).toEqual(expected);
}
