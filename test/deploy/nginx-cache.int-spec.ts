import { createHash } from 'node:crypto';
import { connect, type MqttClient } from 'mqtt';
import { sampleBinary } from '../../apps/server/src/tools/seed-sample';
import { adminHeaders, startTestApp, type TestApp } from '../support/app';
import { sendJson } from '../support/http';
import { freePort } from '../support/process';
import { loadSampleData, type SampleArtifact } from '../support/sample';
import { sleep, until } from '../support/wait';
import { startNginxCache, type NginxCache } from './nginx';

/** Short, so that expiry can be watched; every "same request again" below follows within milliseconds. */
const TTL_SECONDS = 4;
/** Half a slice past 1 MiB: every artifact spans two of nginx's 1 MiB slices. */
const SAMPLE_SIZE = 1536 * 1024;

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

async function bytesOf(component: string, version: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of sampleBinary(component, version, SAMPLE_SIZE)) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface Answer {
  status: number;
  cache: string | null;
  headers: Headers;
  body: Buffer;
}

describe('the nginx cache (deploy/nginx) in front of a real appliance', () => {
  let appliance: TestApp;
  let nginx: NginxCache;
  let sample: Map<string, SampleArtifact>;

  beforeAll(async () => {
    const [httpPort, mqttWsPort, applianceWsPort] = [await freePort(), await freePort(), await freePort()];
    appliance = await startTestApp({
      env: { CACHE_TTL_SECONDS: String(TTL_SECONDS), MQTT_WS_PORT: String(applianceWsPort), PUBLIC_BASE_URL: `http://127.0.0.1:${httpPort}` },
    });
    nginx = await startNginxCache({
      httpPort,
      mqttWsPort,
      httpUpstream: new URL(appliance.url).host,
      mqttWsUpstream: `127.0.0.1:${applianceWsPort}`,
    });
    // Through nginx, as the compose stack's loader does: uploads stream through /api/.
    sample = await loadSampleData(nginx.url, SAMPLE_SIZE);
  });

  afterAll(async () => {
    await nginx?.stop();
    await appliance?.dispose();
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
    const response = await fetch(`${nginx.url}${path}`, { method, headers });
    return { status: response.status, cache: response.headers.get('x-cache-status'), headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  }

  /** Requests the appliance itself answered for `route` (its own Prometheus counter, read directly). */
  async function originCount(route: string, method = 'GET'): Promise<number> {
    const text = await (await fetch(`${appliance.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('ota_http_requests_total{') && line.includes(`route="${route}"`) && line.includes(`method="${method}"`))
      .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
  }

  const md5 = (key: string) => sample.get(key)!.md5;

  it("answers a repeated device check from the cache, with the appliance's caching headers", async () => {
    const path = '/package?cpuArch=armv8&payloadType=metadataOnly&hwRev=repeat';
    const before = await originCount('/package');
    const first = await get(path);
    const second = await get(path);
    expect([first.status, first.cache, second.status, second.cache]).toEqual([200, 'MISS', 200, 'HIT']);
    expect(second.body.toString()).toBe(first.body.toString());
    expect(second.headers.get('etag')).toBe(first.headers.get('etag'));
    expect(first.headers.get('etag')).toMatch(/^"d-/);
    expect(second.headers.get('cache-control')).toBe(`public, max-age=${TTL_SECONDS}`);
    expect(second.headers.get('vary')).toBe('If-None-Match');
    expect(JSON.parse(first.body.toString()).os_armv8).toMatchObject({ latestVersion: '1.1.0', status_code: 200 });
    expect((await originCount('/package')) - before).toBe(1);
  });

  it('keeps one entry per If-None-Match: a device with other binaries installed gets its own answer', async () => {
    const path = '/package?cpuArch=armv8&attrGamer=prod&payloadType=metadataOnly&hwRev=inm';
    const before = await originCount('/package');
    const nothingInstalled = await get(path);
    const osInstalled = await get(path, { 'if-none-match': md5('os_armv8@1.1.0') });
    expect([nothingInstalled.cache, osInstalled.cache]).toEqual(['MISS', 'MISS']);
    expect(JSON.parse(nothingInstalled.body.toString())).toMatchObject({ os_armv8: { status_code: 200 }, scoreboard: { status_code: 200 } });
    expect(JSON.parse(osInstalled.body.toString())).toMatchObject({ os_armv8: { status_code: 304 }, scoreboard: { status_code: 200 } });
    expect(osInstalled.headers.get('etag')).not.toBe(nothingInstalled.headers.get('etag'));

    // Both stay cached side by side, each for its own device.
    const again = [await get(path), await get(path, { 'if-none-match': md5('os_armv8@1.1.0') })];
    expect(again.map((answer) => answer.cache)).toEqual(['HIT', 'HIT']);
    expect(again.map((answer) => answer.body.toString())).toEqual([nothingInstalled.body.toString(), osInstalled.body.toString()]);
    expect((await originCount('/package')) - before).toBe(2);
  });

  it("passes the appliance's 304 through when every selected binary is installed", async () => {
    const path = '/package?cpuArch=armv8&attrGamer=prod&hwRev=all-installed';
    const installed = [md5('os_armv8@1.1.0'), md5('scoreboard@1.0.0'), md5('videoStreamer@0.0.1')].map((hash) => `"${hash}"`).join(', ');
    const before = await originCount('/package');
    const first = await get(path, { 'if-none-match': installed });
    const second = await get(path, { 'if-none-match': installed });
    expect([first.status, first.cache, second.status, second.cache]).toEqual([304, 'MISS', 304, 'HIT']);
    expect([first.body.length, second.body.length]).toEqual([0, 0]);
    expect(first.headers.get('etag')).toMatch(/^"d-/);
    expect((await originCount('/package')) - before).toBe(1);
    // The same device without its hashes still gets the binaries.
    const fresh = await get(path);
    expect([fresh.status, fresh.cache, fresh.headers.get('content-type')]).toEqual([200, 'MISS', 'application/gzip']);
  });

  it('never caches the admin API: a change is seen at once', async () => {
    const channel = '/api/v1/components/scoreboard/channels/nginx-admin';
    const route = '/api/v1/components/:component/channels/:channel';
    expect((await sendJson('PUT', `${nginx.url}${channel}`, { version: '1.0.0', attributes: [] })).status).toBe(201);
    const before = await originCount(route);
    const first = await get(channel, adminHeaders());
    expect((await sendJson('PUT', `${nginx.url}${channel}`, { version: '2.0.0', attributes: [] })).status).toBe(200);
    const second = await get(channel, adminHeaders());
    expect([first.status, second.status]).toEqual([200, 200]);
    expect([JSON.parse(first.body.toString()).version, JSON.parse(second.body.toString()).version]).toEqual(['1.0.0', '2.0.0']);
    expect([first.cache, second.cache]).toEqual([null, null]);
    expect((await originCount(route)) - before).toBe(2);
  });

  it('never caches status reports or metrics', async () => {
    const route = '/devices/:id/status';
    const before = await originCount(route, 'POST');
    for (const state of ['downloading', 'installed']) {
      const response = await fetch(`${nginx.url}/devices/nginx-device/status`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ component: 'os_armv8', version: '1.1.0', state }),
      });
      expect(response.status).toBeLessThan(300);
      expect(response.headers.get('x-cache-status')).toBeNull();
    }
    expect((await originCount(route, 'POST')) - before).toBe(2);

    const metrics = [await get('/metrics'), await get('/metrics')];
    expect(metrics.map((answer) => [answer.status, answer.cache])).toEqual([
      [200, null],
      [200, null],
    ]);
    // The second read counts the first: it came from the appliance, not from a cache.
    expect(metrics[1].body.toString()).not.toBe(metrics[0].body.toString());
  });

  it('caches binaries slice by slice and answers Range requests from the cache', async () => {
    const artifact = sample.get('os_armv7@2.0.0')!;
    const bytes = await bytesOf('os_armv7', '2.0.0');
    expect(sha256(bytes)).toBe(artifact.sha256);
    const path = `/artifacts/${artifact.sha256}`;
    const before = await originCount('/artifacts/:sha256');

    // Across the 1 MiB slice boundary, cold: nginx fetches both slices, answers the exact range.
    const range = await get(path, { range: 'bytes=1048000-1049999' });
    expect([range.status, range.cache, range.headers.get('content-range')]).toEqual([206, 'MISS', `bytes 1048000-1049999/${SAMPLE_SIZE}`]);
    expect(range.body.equals(bytes.subarray(1048000, 1050000))).toBe(true);

    const whole = await get(path);
    expect([whole.status, whole.cache, Number(whole.headers.get('content-length'))]).toEqual([200, 'HIT', SAMPLE_SIZE]);
    expect(sha256(whole.body)).toBe(artifact.sha256);
    expect(whole.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');

    const tail = await get(path, { range: 'bytes=-100' });
    expect([tail.status, tail.cache]).toEqual([206, 'HIT']);
    expect(tail.body.equals(bytes.subarray(SAMPLE_SIZE - 100))).toBe(true);

    // A resumed download: from an offset to the end.
    const resumed = await get(path, { range: 'bytes=1000000-' });
    expect([resumed.status, resumed.body.length]).toEqual([206, SAMPLE_SIZE - 1000000]);
    expect(resumed.body.equals(bytes.subarray(1000000))).toBe(true);

    const head = await get(path, {}, 'HEAD');
    expect([head.status, head.cache, Number(head.headers.get('content-length'))]).toEqual([200, 'HIT', SAMPLE_SIZE]);

    // The origin sent each of the two slices once, whatever was asked after.
    expect((await originCount('/artifacts/:sha256')) - before).toBe(2);

    const beyond = await get(path, { range: `bytes=${SAMPLE_SIZE + 10}-` });
    expect(beyond.status).toBe(416);
  });

  it('caches signed manifests as the appliance allows, and never the public keys', async () => {
    const artifact = sample.get('scoreboard@2.0.0')!;
    const first = await get(`/manifests/${artifact.sha256}`);
    const second = await get(`/manifests/${artifact.sha256}`);
    expect([first.status, first.cache, second.status, second.cache]).toEqual([200, 'MISS', 200, 'HIT']);
    expect(first.headers.get('cache-control')).toMatch(/max-age=\d+/);
    expect(second.body.toString()).toBe(first.body.toString());
    expect(JSON.stringify(JSON.parse(first.body.toString()))).toContain(artifact.sha256);

    const keys = [await get('/keys'), await get('/keys')];
    expect(keys.map((answer) => [answer.status, answer.cache])).toEqual([
      [200, null],
      [200, null],
    ]);
  });

  it('turns 200 identical cold device checks into one request to the appliance', async () => {
    const path = '/package?cpuArch=armv8&hwRev=crowd';
    const before = await originCount('/package');
    const answers = await Promise.all(Array.from({ length: 200 }, () => get(path)));
    expect((await originCount('/package')) - before).toBe(1);
    expect(new Set(answers.map((answer) => answer.status))).toEqual(new Set([200]));
    expect(new Set(answers.map((answer) => sha256(answer.body))).size).toBe(1);
    expect(answers.filter((answer) => answer.cache === 'MISS')).toHaveLength(1);
    // A full payload: the tar.gz carries the binary itself.
    expect(answers[0].body.length).toBeGreaterThan(SAMPLE_SIZE);
  });

  it("shows a device a changed channel once the appliance's max-age has passed", async () => {
    const channel = `${nginx.url}/api/v1/components/ipModule/channels/nginx-ttl`;
    expect((await sendJson('PUT', channel, { version: '5.6.14', attributes: ['ttltest'] })).status).toBe(201);
    const path = '/package?cpuArch=armv8&attrTtltest=nginx-ttl&payloadType=metadataOnly';
    // The device has its OS and ipModule 5.6.9: it is offered 5.6.14.
    const device = { 'if-none-match': `${md5('os_armv8@1.1.0')}, ${md5('ipModule@5.6.9')}` };
    const offered = (answer: Answer) => (answer.status === 200 ? (JSON.parse(answer.body.toString()).ipModule.latestVersion as string) : answer.status);

    const first = await get(path, device);
    expect([first.cache, offered(first)]).toEqual(['MISS', '5.6.14']);
    // The operator points the channel back at the version the device has.
    expect((await sendJson('PUT', channel, { version: '5.6.9', attributes: ['ttltest'] })).status).toBe(200);
    // Within max-age the cached answer stands: that is what max-age promises.
    const cached = await get(path, device);
    expect([cached.cache, offered(cached)]).toEqual(['HIT', '5.6.14']);

    // Time passes on purpose, for the cached answer to expire. nginx counts whole seconds: wait a second more than max-age.
    await sleep(TTL_SECONDS * 1000 + 1500);
    // The first request after expiry gets the old answer while nginx asks the appliance again in the
    // background, so a crowd at expiry still makes one origin request.
    const expired = await get(path, device);
    expect([expired.cache, offered(expired)]).toEqual(['STALE', '5.6.14']);
    // The new answer is "you have everything": a 304, stored as the answer (not taken as "your copy
    // is still valid", which revalidation would make of it, keeping the old offer for good).
    const refreshed = await until(
      () => get(path, device),
      (answer) => answer.status === 304,
      10_000,
    );
    expect([refreshed.cache, offered(refreshed)]).toEqual(['HIT', 304]);
  });

  describe('MQTT over WebSocket', () => {
    async function checkOver(url: string, deviceId: string) {
      const client: MqttClient = await new Promise((resolve, reject) => {
        const device = connect(url, { clientId: deviceId, reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 4 });
        device.once('connect', () => resolve(device));
        device.once('error', (error) => {
          device.end(true);
          reject(error);
        });
      });
      try {
        await client.subscribeAsync(`ota/v1/devices/${deviceId}/offer`, { qos: 1 });
        const offer = new Promise<any>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no offer within 5 s')), 5000);
          client.on('message', (topic, payload) => {
            if (topic !== `ota/v1/devices/${deviceId}/offer`) return;
            clearTimeout(timer);
            resolve(JSON.parse(payload.toString()));
          });
        });
        await client.publishAsync(`ota/v1/devices/${deviceId}/check`, JSON.stringify({ requestId: deviceId, attributes: { cpuArch: 'armv8' }, installed: [] }), { qos: 1 });
        return await offer;
      } finally {
        await client.endAsync(true);
      }
    }

    it('reaches the broker through /mqtt on the HTTP port', async () => {
      const offer = await checkOver(`${nginx.url.replace('http:', 'ws:')}/mqtt`, 'nginx-ws-http-port');
      expect(offer).toMatchObject({ requestId: 'nginx-ws-http-port', status: 200, components: { os_armv8: { latestVersion: '1.1.0' } } });
    });

    it('reaches the broker on its own port, as the appliance serves it', async () => {
      const offer = await checkOver(`${nginx.wsPortUrl}/mqtt`, 'nginx-ws-own-port');
      expect(offer).toMatchObject({ requestId: 'nginx-ws-own-port', status: 200, components: { os_armv8: { latestVersion: '1.1.0' } } });
    });
  });
});
