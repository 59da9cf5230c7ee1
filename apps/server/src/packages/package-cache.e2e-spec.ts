import { connect } from 'node:net';
import { CatalogService } from '../catalog/catalog.service';
import { startTestApp, type TestApp } from '@test/support/app';
import { sendJson, upload } from '@test/support/http';
import { loadSampleData, type SampleArtifact } from '@test/support/sample';
import { until } from '@test/support/wait';

/**
 * The device check caches encoded answers. Every answer must stay byte-identical to one computed
 * afresh: `cached` serves from its cache, `uncached` (a replica on the same database with
 * PACKAGE_CACHE_BYTES=0) computes every answer.
 */
describe('GET /package answer cache', () => {
  let cached: TestApp;
  let uncached: TestApp;
  let sample: Map<string, SampleArtifact>;
  const md5 = (key: string) => sample.get(key)!.md5;
  const sha256 = (key: string) => sample.get(key)!.sha256;

  beforeAll(async () => {
    cached = await startTestApp({ env: { CACHE_TTL_SECONDS: '100', PUBLIC_BASE_URL: 'https://ota.example.com' } });
    uncached = await startTestApp({ replicaOf: cached, env: { CACHE_TTL_SECONDS: '100', PUBLIC_BASE_URL: 'https://ota.example.com', PACKAGE_CACHE_BYTES: '0' } });
    sample = await loadSampleData(cached.url);
    await sameCatalog();
  });

  afterAll(async () => {
    await uncached?.stop();
    await cached?.dispose();
  });

  /** Waits until the replica has loaded the catalog revision the cached appliance serves. */
  async function sameCatalog(): Promise<void> {
    const revision = cached.app.get(CatalogService).current().revision;
    const seen = await until(
      async () => uncached.app.get(CatalogService).current().revision,
      (r) => r === revision,
    );
    expect(seen).toBe(revision);
  }

  /** The whole answer as bytes on the wire, without the Date header (the only part allowed to differ). */
  function raw(baseUrl: string, method: 'GET' | 'HEAD', target: string, ifNoneMatch?: string | string[]): Promise<string> {
    const { hostname, port } = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const socket = connect(Number(port), hostname);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('end', () =>
        resolve(
          Buffer.concat(chunks)
            .toString('latin1')
            .replace(/\r\nDate: [^\r]*/, ''),
        ),
      );
      const header = [ifNoneMatch ?? []]
        .flat()
        .map((value) => `If-None-Match: ${value}\r\n`)
        .join('');
      socket.end(`${method} ${target} HTTP/1.1\r\nHost: ${hostname}\r\n${header}Connection: close\r\n\r\n`);
    });
  }

  async function lookups(): Promise<{ hit: number; miss: number }> {
    const text = await (await fetch(`${cached.url}/metrics`)).text();
    const count = (result: string) => Number(new RegExp(`^ota_package_cache_lookups_total\\{result="${result}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
    return { hit: count('hit'), miss: count('miss') };
  }

  const FOUR = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';
  const cases: () => [label: string, target: string, ifNoneMatch?: string | string[]][] = () => [
    ['one component', '/package?cpuArch=armv8&payloadType=metadataOnly'],
    ['four components', `/package?${FOUR}&payloadType=metadataOnly`],
    ['the same, parameters reordered', `/package?payloadType=metadataOnly&attrCellular=prod&attrGamer=prod&cpuArch=armv8`],
    ['the same, other spelling', `/package?CPUARCH=armv8&AttrGamer=PROD&attrcellular=prod&payloadtype=METADATAONLY`],
    ['a device id (cohort)', `/package?${FOUR}&deviceId=device-42&payloadType=metadataOnly`],
    ['another device id', `/package?${FOUR}&deviceId=device-43&payloadType=metadataOnly`],
    ['an explicit cohort', `/package?${FOUR}&cohort=7&payloadType=metadataOnly`],
    ['an installed OS by hash', `/package?${FOUR}&payloadType=metadataOnly`, `"${md5('os_armv8@1.1.0')}"`],
    ['the same hash, weak and upper-case', `/package?${FOUR}&payloadType=metadataOnly`, `W/"${md5('os_armv8@1.1.0').toUpperCase()}"`],
    ['hashes and junk tokens', `/package?${FOUR}&payloadType=metadataOnly`, ` "not-a-hash", *, ${sha256('scoreboard@1.0.0')},`],
    ['an empty If-None-Match', `/package?${FOUR}&payloadType=metadataOnly`, ''],
    ['If-None-Match on two lines', `/package?${FOUR}&payloadType=metadataOnly`, [`"${md5('os_armv8@1.1.0')}"`, md5('modemFW@1.0')]],
    ['If-None-Match on two lines, all installed (304)', `/package?${FOUR}`, [md5('os_armv8@1.1.0'), ['scoreboard@1.0.0', 'videoStreamer@0.0.1', 'modemFW@1.0'].map(md5).join(',')]],
    ['everything installed (304)', `/package?${FOUR}&payloadType=metadataOnly`, ['os_armv8@1.1.0', 'scoreboard@1.0.0', 'videoStreamer@0.0.1', 'modemFW@1.0'].map(md5).join(', ')],
    ['everything installed, full payload (304)', `/package?${FOUR}`, ['os_armv8@1.1.0', 'scoreboard@1.0.0', 'videoStreamer@0.0.1', 'modemFW@1.0'].map(md5).join(', ')],
    ['a bridge by installed=', '/package?cpuArch=armv8&attrAlarmpanel=prod&installed=ipModule@5.6.14&payloadType=metadataOnly'],
    ['a declared version the catalog lacks', '/package?cpuArch=armv8&attrAlarmpanel=prod&installed=ipModule@v7.0.0,os_armv8@1.1.0&payloadType=metadataOnly'],
    ['percent-encoding', '/package?cpuArch=armv8&os=b%65ta&site=a%20b+c&payloadType=metadataOnly'],
    ['missing cpuArch (400)', '/package?os=beta&payloadType=metadataOnly'],
    ['a bad payloadType (400)', '/package?cpuArch=armv8&payloadType=everything'],
    ['a repeated parameter (400)', '/package?cpuArch=armv8&os=beta&os=prod&payloadType=metadataOnly'],
    ['a malformed installed (400)', '/package?cpuArch=armv8&installed=ipModule&payloadType=metadataOnly'],
    ['too many hashes (400)', '/package?cpuArch=armv8&payloadType=metadataOnly', Array.from({ length: 65 }, (_, i) => i.toString(16).padStart(32, '0')).join(',')],
    ['an over-long value (414)', `/package?cpuArch=armv8&site=${'x'.repeat(300)}&payloadType=metadataOnly`],
    ['an unknown architecture (404)', '/package?cpuArch=riscv&payloadType=metadataOnly'],
    ['an unknown channel (404)', '/package?cpuArch=armv8&os=nightly&payloadType=metadataOnly'],
  ];

  it('answers every request byte for byte as a fresh computation does, from the cache the second time', async () => {
    const before = await lookups();
    let answered = 0;
    for (const [label, target, ifNoneMatch] of cases()) {
      for (const method of ['GET', 'HEAD'] as const) {
        const fresh = await raw(uncached.url, method, target, ifNoneMatch);
        const first = await raw(cached.url, method, target, ifNoneMatch);
        const second = await raw(cached.url, method, target, ifNoneMatch);
        expect({ label, method, answer: first }).toEqual({ label, method, answer: fresh });
        expect({ label, method, answer: second }).toEqual({ label, method, answer: fresh });
        if (/^HTTP\/1\.1 (200|304)/.test(fresh)) answered++;
      }
    }
    const after = await lookups();
    // Each successful GET/HEAD pair of the table was looked up twice; the second lookups hit.
    expect(after.hit - before.hit).toBeGreaterThanOrEqual(answered);
  });

  it('revalidates with the decision ETag from the cache as without it', async () => {
    const target = `/package?${FOUR}&payloadType=metadataOnly`;
    const etag = /\r\nETag: ("d-[0-9a-f]+")/.exec(await raw(cached.url, 'GET', target))![1];
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, etag.toUpperCase()]) {
      const fresh = await raw(uncached.url, 'GET', target, header);
      expect(fresh).toMatch(/^HTTP\/1\.1 304 /);
      expect(await raw(cached.url, 'GET', target, header)).toBe(fresh);
      expect(await raw(cached.url, 'GET', target, header)).toBe(fresh);
    }
  });

  it('counts cached answers in the HTTP metrics like any other', async () => {
    const series = async () => {
      const text = await (await fetch(`${cached.url}/metrics`)).text();
      const value = (line: string) =>
        Number(
          text
            .split('\n')
            .find((l) => l.startsWith(`${line} `))
            ?.split(' ')[1] ?? 0,
        );
      return {
        get200: value('ota_http_requests_total{method="GET",route="/package",status="200"}'),
        head304: value('ota_http_requests_total{method="HEAD",route="/package",status="304"}'),
        get400: value('ota_http_requests_total{method="GET",route="/package",status="400"}'),
        getTimed: value('ota_http_request_duration_seconds_count{method="GET",route="/package"}'),
        headTimed: value('ota_http_request_duration_seconds_count{method="HEAD",route="/package"}'),
      };
    };
    const target = `/package?${FOUR}&payloadType=metadataOnly&site=metrics`;
    const installed = ['os_armv8@1.1.0', 'scoreboard@1.0.0', 'videoStreamer@0.0.1', 'modemFW@1.0'].map(md5).join(',');
    const before = await series();
    for (let i = 0; i < 5; i++) await raw(cached.url, 'GET', target);
    for (let i = 0; i < 3; i++) await raw(cached.url, 'HEAD', target, installed);
    await raw(cached.url, 'GET', '/package?payloadType=metadataOnly');
    const after = await series();
    expect({
      get200: after.get200 - before.get200,
      head304: after.head304 - before.head304,
      get400: after.get400 - before.get400,
      getTimed: after.getTimed - before.getTimed,
      headTimed: after.headTimed - before.headTimed,
    }).toEqual({ get200: 5, head304: 3, get400: 1, getTimed: 6, headTimed: 3 });
  });

  it('sees a channel change on the very next check', async () => {
    const target = '/package?cpuArch=armv8&attrGamer=prod&payloadType=metadataOnly';
    const stored = await upload(cached.url, 'scoreboard', '3.0.0', Buffer.from('scoreboard three'));
    expect(stored.status).toBe(201);
    await raw(cached.url, 'GET', target);
    const old = await raw(cached.url, 'GET', target);
    expect(old).toContain('"scoreboard":{"latestVersion":"1.0.0"');

    expect((await sendJson('PUT', `${cached.url}/api/v1/components/scoreboard/channels/prod`, { version: '3.0.0' })).status).toBe(200);
    const next = await raw(cached.url, 'GET', target);
    expect(next).toContain(`"scoreboard":{"latestVersion":"3.0.0","url":"https://ota.example.com/artifacts/${stored.body.sha256}"`);
    await sameCatalog();
    expect(next).toBe(await raw(uncached.url, 'GET', target));

    expect((await sendJson('PUT', `${cached.url}/api/v1/components/scoreboard/channels/prod`, { version: '1.0.0' })).status).toBe(200);
    const back = await raw(cached.url, 'GET', target);
    expect(back).toBe(old);
  });
});
