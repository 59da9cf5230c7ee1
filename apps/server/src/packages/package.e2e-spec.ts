import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '@test/support/app';
import { sendJson, upload } from '@test/support/http';
import { loadSampleData, type SampleArtifact } from '@test/support/sample';
import { PackageService } from './package.service';

describe('GET /package with the reference sample data', () => {
  let appliance: TestApp;
  let sample: Map<string, SampleArtifact>;
  const artifact = (key: string) => sample.get(key)!;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { CACHE_TTL_SECONDS: '100', PUBLIC_BASE_URL: 'https://ota.example.com' } });
    sample = await loadSampleData(appliance.url);
  });

  afterAll(async () => appliance.dispose());

  async function metadata(query: string, ifNoneMatch?: string) {
    const response = await fetch(`${appliance.url}/package?${query}&payloadType=metadataOnly`, {
      headers: ifNoneMatch === undefined ? {} : { 'if-none-match': ifNoneMatch },
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined };
  }

  it('offers the prod OS for cpuArch=armv8, with the seed fields and checksums', async () => {
    const answer = await metadata('cpuArch=armv8');
    expect(answer.status).toBe(200);
    const os = artifact('os_armv8@1.1.0');
    expect(answer.body).toEqual({
      os_armv8: {
        latestVersion: '1.1.0',
        url: `https://ota.example.com/artifacts/${os.sha256}`,
        status_code: 200,
        sha256: os.sha256,
        md5: os.md5,
        size: os.size,
        targetVersion: '1.1.0',
        reason: 'channel',
        manifestUrl: `https://ota.example.com/manifests/${os.sha256}`,
      },
    });
    expect(answer.headers.get('cache-control')).toBe('public, max-age=100');
    expect(answer.headers.get('vary')).toBe('If-None-Match');
    expect(answer.headers.get('etag')).toMatch(/^"d-[0-9a-f]{32}"$/);
  });

  it('follows the reference walkthrough', async () => {
    expect((await metadata('cpuArch=armv8&os=beta')).body.os_armv8.latestVersion).toBe('2.0.0');
    const gamer = await metadata('cpuArch=armv8&attrGamer=prod');
    expect(Object.keys(gamer.body).sort()).toEqual(['os_armv8', 'scoreboard', 'videoStreamer']);
    expect(gamer.body.scoreboard.latestVersion).toBe('1.0.0');
    expect(gamer.body.videoStreamer.latestVersion).toBe('0.0.1');
    const four = await metadata('cpuArch=armv8&attrGamer=prod&attrCellular=prod');
    expect(Object.keys(four.body).sort()).toEqual(['modemFW', 'os_armv8', 'scoreboard', 'videoStreamer']);
    expect(Object.values(four.body).every((entry: any) => entry.status_code === 200)).toBe(true);
  });

  it('marks an installed OS 304 and still offers the other three', async () => {
    const query = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';
    const answer = await metadata(query, `"${artifact('os_armv8@1.1.0').md5}"`);
    expect(answer.status).toBe(200);
    expect(answer.body.os_armv8).toMatchObject({ status_code: 304, reason: 'installed', latestVersion: '1.1.0' });
    expect(Object.values(answer.body).filter((entry: any) => entry.status_code === 200)).toHaveLength(3);
  });

  it('answers 304 with no body when every selected binary is installed, whatever the header spelling', async () => {
    const hashes = ['os_armv8@1.1.0', 'scoreboard@1.0.0', 'videoStreamer@0.0.1', 'modemFW@1.0'].map((key) => artifact(key).md5);
    const header = ` W/"${hashes[0].toUpperCase()}" , ${hashes[1]},"${hashes[2]}",  ${artifact('modemFW@1.0').sha256},`;
    const response = await fetch(`${appliance.url}/package?cpuArch=armv8&attrGamer=prod&attrCellular=prod`, { headers: { 'if-none-match': header } });
    expect(response.status).toBe(304);
    expect(await response.text()).toBe('');
    expect(response.headers.get('cache-control')).toBe('public, max-age=100');
    expect(response.headers.get('etag')).toMatch(/^"d-/);
  });

  it('streams the full payload as a tar.gz whose members match their metadata', async () => {
    const query = 'cpuArch=armv8&attrGamer=prod&attrCellular=prod';
    const installedOs = artifact('os_armv8@1.1.0').md5;
    const response = await fetch(`${appliance.url}/package?${query}`, { headers: { 'if-none-match': installedOs } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/gzip');
    expect(response.headers.get('content-disposition')).toBe('attachment; filename="ota-package.tar.gz"');
    expect(response.headers.get('content-encoding')).toBeNull();
    const dir = mkdtempSync(join(tmpdir(), 'ota-pkg-'));
    try {
      writeFileSync(join(dir, 'ota-package.tar.gz'), Buffer.from(await response.arrayBuffer()));
      const listing = execFileSync('tar', ['-tzf', 'ota-package.tar.gz'], { cwd: dir }).toString().trim().split('\n');
      expect(listing).toEqual(['package_details.json', 'modemFW_1.0', 'scoreboard_1.0.0', 'videoStreamer_0.0.1']);
      execFileSync('tar', ['-xzf', 'ota-package.tar.gz'], { cwd: dir });
      const details = JSON.parse(readFileSync(join(dir, 'package_details.json'), 'utf8'));
      expect(details.os_armv8.status_code).toBe(304);
      for (const member of listing.slice(1)) {
        const component = member.slice(0, member.lastIndexOf('_'));
        const md5 = createHash('md5')
          .update(readFileSync(join(dir, member)))
          .digest('hex');
        expect(md5).toBe(details[component].md5);
      }
      expect(readdirSync(dir)).toHaveLength(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('walks ipModule through its bridge, by hash and by installed=', async () => {
    const at = (version: string) => artifact(`ipModule@${version}`);
    for (const from of ['5.6.14', '5.6.9']) {
      const byHash = await metadata('cpuArch=armv8&attrAlarmpanel=prod', at(from).md5);
      expect(byHash.body.ipModule).toMatchObject({ latestVersion: '5.6.30', targetVersion: '6.15.008', reason: 'bridge-required', md5: at('5.6.30').md5 });
      const byName = await metadata(`cpuArch=armv8&attrAlarmpanel=prod&installed=ipModule@${from}`);
      expect(byName.body.ipModule).toMatchObject({ latestVersion: '5.6.30', reason: 'bridge-required' });
    }
    const fromBridge = await metadata('cpuArch=armv8&attrAlarmpanel=prod', at('5.6.30').md5);
    expect(fromBridge.body.ipModule).toMatchObject({ latestVersion: '6.15.008', reason: 'channel', status_code: 200 });
    const done = await fetch(`${appliance.url}/package?cpuArch=armv8&attrAlarmpanel=prod&installed=ipModule@6.15.008,os_armv8@1.1.0&payloadType=metadataOnly`);
    expect(done.status).toBe(304);
  });

  it('answers a cache revalidating with the decision ETag with 304', async () => {
    const first = await metadata('cpuArch=armv7&attrGamer=beta');
    const etag = first.headers.get('etag')!;
    const again = await fetch(`${appliance.url}/package?cpuArch=armv7&attrGamer=beta&payloadType=metadataOnly`, { headers: { 'if-none-match': etag } });
    expect(again.status).toBe(304);
  });

  it.each([
    ['missing cpuArch', 'os=beta', 400],
    ['an unknown payloadType', 'cpuArch=armv8&payloadType=everything', 400],
    ['a malformed installed', 'cpuArch=armv8&installed=ipModule', 400],
    ['a repeated parameter', 'cpuArch=armv8&os=beta&os=prod', 400],
    ['more than 64 parameters', `cpuArch=armv8&${Array.from({ length: 64 }, (_, i) => `k${i}=v`).join('&')}`, 400],
    ['an over-long value', `cpuArch=armv8&site=${'x'.repeat(300)}`, 414],
    ['no matching component', 'cpuArch=riscv', 404],
    ['a channel that does not exist', 'cpuArch=armv8&os=nightly', 404],
  ])('answers %s with a short-lived JSON error', async (_label, query, status) => {
    const response = await fetch(`${appliance.url}/package?${query}`);
    expect(response.status).toBe(status);
    const body = await response.json();
    expect(body).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) });
    expect(response.headers.get('cache-control')).toBe('public, max-age=10');
  });

  it('answers a check whose answer a store cannot give with 503 and Retry-After, never cached', async () => {
    // Nothing behind a check reaches a store today: the fault is injected where one would surface,
    // a real driver error from a refused connection, mapped as the framework's filter maps it.
    const refused: unknown = await new Client({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' }).connect().then(
      () => undefined,
      (error: unknown) => error,
    );
    const details = jest.spyOn(appliance.app.get(PackageService), 'details').mockRejectedValueOnce(refused);
    // The full payload: a metadataOnly answer may come from the answer cache, which needs no store.
    const url = `${appliance.url}/package?cpuArch=armv8&site=store-down`;
    try {
      const answer = await fetch(url);
      expect(answer.status).toBe(503);
      expect(await answer.json()).toEqual({ statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('try again') });
      expect(answer.headers.get('retry-after')).toBe('5');
      expect(answer.headers.get('cache-control')).toBe('no-store');
    } finally {
      details.mockRestore();
    }
    const recovered = await fetch(url);
    expect(recovered.status).toBe(200);
    await recovered.arrayBuffer();
  });

  it('ignores If-None-Match tokens that are not hashes', async () => {
    const answer = await metadata('cpuArch=armv8', '"not-a-hash", *, W/"also-not"');
    expect(answer.status).toBe(200);
    expect(answer.body.os_armv8.status_code).toBe(200);
  });

  it('sees a catalog change at once', async () => {
    const stored = await upload(appliance.url, 'os_armv8', '1.2.0', Buffer.from('newer os'));
    expect(stored.status).toBe(201);
    expect((await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.2.0' })).status).toBe(200);
    const answer = await metadata('cpuArch=armv8');
    expect(answer.body.os_armv8).toMatchObject({ latestVersion: '1.2.0', sha256: stored.body.sha256 });
    expect((await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.1.0' })).status).toBe(200);
    expect((await metadata('cpuArch=armv8')).body.os_armv8.latestVersion).toBe('1.1.0');
  });

  it('counts payload bytes in /metrics', async () => {
    const text = await (await fetch(`${appliance.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('ota_artifact_bytes_sent_total{route="package"}'));
    expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(3 * 64 * 1024);
  });
});
