import { databaseOf } from '@test/support/database';
import { createHash } from 'node:crypto';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { adminHeaders, startTestApp, type TestApp } from '@test/support/app';
import { abortedUpload, binaryStream, getJson, sendJson, upload } from '@test/support/http';
import { until } from '@test/support/wait';
import { ObjectStore } from '../storage/object-store';
import { artifactKey } from './artifacts.service';

function digest(data: Buffer) {
  return { sha256: createHash('sha256').update(data).digest('hex'), md5: createHash('md5').update(data).digest('hex') };
}

function randomBinary(size: number, seed: number): Buffer {
  const chunks: Buffer[] = [];
  return Buffer.concat(chunks.concat([Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed * 17 + (i >> 8)) & 0xff))]));
}

describe.each(['filesystem', 's3'] as const)('artifact uploads and downloads (%s storage)', (storage) => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ storage, env: { MAX_UPLOAD_BYTES: String(8 * 1024 * 1024) } });
  });

  afterAll(async () => appliance.dispose());

  it('stores a binary and answers its checksums and size', async () => {
    const binary = randomBinary(3 * 1024 * 1024 + 17, 1);
    const result = await upload(appliance.url, 'os_armv8', '1.1.0', binary, { query: 'notes=first%20release' });
    expect(result.status).toBe(201);
    expect(result.body).toMatchObject({ component: 'os_armv8', version: '1.1.0', size: binary.length, ...digest(binary), requiresFrom: null, notes: 'first release' });
    expect(new Date(result.body.createdAt).getTime()).toBeGreaterThan(Date.now() - 60_000);
    // Its manifest was signed at upload: it is already stored, ready for every replica to serve.
    const rows = await databaseOf(appliance).query(`SELECT key_id FROM manifests WHERE sha256 = $1`, [result.body.sha256]);
    expect(rows).toHaveLength(1);
  });

  it('answers 200 with the same artifact when the same bytes are uploaded again, under any spelling of the version', async () => {
    const binary = randomBinary(1000, 2);
    const first = await upload(appliance.url, 'modemFW', '1.0', binary);
    const again = await upload(appliance.url, 'MODEMfw', 'v1.0.0', binary);
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
  });

  it('refuses other bytes under an existing version with 409 and keeps the original', async () => {
    const original = randomBinary(2000, 3);
    await upload(appliance.url, 'scoreboard', '1.0.0', original);
    const other = await upload(appliance.url, 'scoreboard', '1.0.0', randomBinary(2000, 4));
    expect(other.status).toBe(409);
    expect(other.body).toMatchObject({ statusCode: 409, error: 'Conflict' });
    const download = await fetch(`${appliance.url}/artifacts/${digest(original).sha256}`);
    expect(Buffer.from(await download.arrayBuffer()).equals(original)).toBe(true);
  });

  it.each([
    ['a component name with a path separator', 'os%2Fetc', '1.0.0'],
    ['a component name that is too long', 'c'.repeat(65), '1.0.0'],
    ['a version that is not a version', 'os_armv8', 'latest'],
    ['a version with a path separator', 'os_armv8', '..%2F1.0'],
  ])('rejects %s with 400', async (_label, component, version) => {
    const response = await fetch(`${appliance.url}/api/v1/components/${component}/versions/${version}`, {
      method: 'PUT',
      headers: adminHeaders(),
      body: Buffer.from('x'),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it('stores requiresFrom and refuses one that is not below the version', async () => {
    const ok = await upload(appliance.url, 'ipModule', '6.15.008', randomBinary(100, 5), { headers: { 'x-requires-from': '5.6.30' } });
    expect(ok.status).toBe(201);
    expect(ok.body.requiresFrom).toBe('5.6.30');
    const bad = await upload(appliance.url, 'ipModule', '5.0', randomBinary(100, 6), { query: 'requiresFrom=5.0.1' });
    expect(bad.status).toBe(400);
  });

  it('refuses an upload over MAX_UPLOAD_BYTES with 413 and stores nothing, with or without Content-Length', async () => {
    const declared = await upload(appliance.url, 'big', '1.0.0', Buffer.alloc(8 * 1024 * 1024 + 1));
    expect(declared.status).toBe(413);
    expect(declared.body).toMatchObject({ statusCode: 413, error: 'Payload Too Large' });

    // s3rver has no multipart upload, which S3 needs for a body of unknown length; MinIO has it.
    if (storage === 'filesystem') {
      const streamed = await upload(appliance.url, 'big', '1.0.1', binaryStream(9 * 1024 * 1024));
      expect(streamed.status).toBe(413);
    }

    const versions = await getJson(`${appliance.url}/api/v1/components/big/versions`);
    expect(versions.status).toBe(404);
  });

  it('leaves nothing behind when the uploader disconnects half way', async () => {
    const failedUploads = async () =>
      (await (await fetch(`${appliance.url}/metrics`)).text())
        .split('\n')
        .filter((line) => line.startsWith('ota_uploads_total{') && !/result="(created|unchanged)"/.test(line))
        .reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
    const failedBefore = await failedUploads();
    await abortedUpload(appliance.url, '/api/v1/components/halfway/versions/1.0.0', 512 * 1024, 4 * 1024 * 1024);
    // The server notices the disconnect asynchronously: it removes what it received, then counts the failed upload.
    await until(failedUploads, (failed) => failed > failedBefore);
    expect((await getJson(`${appliance.url}/api/v1/components/halfway/versions`)).status).toBe(404);
    if (storage === 'filesystem') {
      const uploads = join(appliance.dataDir, 'objects', 'uploads');
      expect(existsSync(uploads) ? readdirSync(uploads) : []).toEqual([]);
    }
  });

  describe('downloads', () => {
    const binary = randomBinary(2 * 1024 * 1024 + 5, 9);
    const { sha256 } = digest(binary);

    beforeAll(async () => {
      expect((await upload(appliance.url, 'videoStreamer', '0.1.2', binary)).status).toBe(201);
    });

    it('streams the whole binary with its length, ETag and immutable caching', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`);
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(binary.length));
      expect(response.headers.get('etag')).toBe(`"${sha256}"`);
      expect(response.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(response.headers.get('accept-ranges')).toBe('bytes');
      expect(Buffer.from(await response.arrayBuffer()).equals(binary)).toBe(true);
    });

    it('answers HEAD with the headers and no body', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { method: 'HEAD' });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-length')).toBe(String(binary.length));
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    });

    it('serves a single range with 206', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=1000-1999' } });
      expect(response.status).toBe(206);
      expect(response.headers.get('content-range')).toBe(`bytes 1000-1999/${binary.length}`);
      expect(Buffer.from(await response.arrayBuffer()).equals(binary.subarray(1000, 2000))).toBe(true);
    });

    it('serves an open-ended range and a suffix range', async () => {
      const tail = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: `bytes=${binary.length - 10}-` } });
      expect(Buffer.from(await tail.arrayBuffer()).equals(binary.subarray(binary.length - 10))).toBe(true);
      const suffix = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=-7' } });
      expect(suffix.status).toBe(206);
      expect(Buffer.from(await suffix.arrayBuffer()).equals(binary.subarray(binary.length - 7))).toBe(true);
    });

    it('answers 416 for a range past the end', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: `bytes=${binary.length}-` } });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${binary.length}`);
    });

    it('ignores Range when If-Range names another version of the resource', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=0-9', 'if-range': '"something-else"' } });
      expect(response.status).toBe(200);
      expect(Number(response.headers.get('content-length'))).toBe(binary.length);
      await response.arrayBuffer();
      const matching = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=0-9', 'if-range': `"${sha256}"` } });
      expect(matching.status).toBe(206);
      await matching.arrayBuffer();
    });

    it('answers 304 to a client that already has it', async () => {
      const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { 'if-none-match': `"${sha256}"` } });
      expect(response.status).toBe(304);
    });

    it('answers 404 for an unknown hash and 400 for something that is not a hash', async () => {
      expect((await fetch(`${appliance.url}/artifacts/${'0'.repeat(64)}`)).status).toBe(404);
      expect((await fetch(`${appliance.url}/artifacts/not-a-hash`)).status).toBe(400);
    });

    it('answers 404 without the binary’s caching headers when the catalog lists bytes that are gone', async () => {
      // What a replica sees between another replica deleting a version and the notification arriving.
      const gone = randomBinary(1000, 11);
      expect((await upload(appliance.url, 'videoStreamer', '0.1.3', gone)).status).toBe(201);
      await appliance.app.get(ObjectStore).remove(artifactKey(digest(gone).sha256));
      const response = await fetch(`${appliance.url}/artifacts/${digest(gone).sha256}`);
      expect(response.status).toBe(404);
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(response.headers.get('etag')).toBeNull();
      expect(await response.json()).toMatchObject({ statusCode: 404, error: 'Not Found' });
    });

    it('counts the bytes it sent in /metrics', async () => {
      const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
      const line = metrics.split('\n').find((l) => l.startsWith('ota_artifact_bytes_sent_total{route="artifacts"}'));
      expect(Number(line?.split(' ')[1])).toBeGreaterThanOrEqual(binary.length);
    });
  });

  describe('versions and channels', () => {
    it('lists components and versions with their checksums', async () => {
      const binary = randomBinary(500, 11);
      await upload(appliance.url, 'os_armv7', '1.0.0', binary);
      await upload(appliance.url, 'os_armv7', '2.0.0', randomBinary(500, 12));
      const components = await getJson(`${appliance.url}/api/v1/components`);
      expect(components.body).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'os_armv7', versions: 2, latestVersion: '2.0.0' })]));
      const versions = await getJson(`${appliance.url}/api/v1/components/os_armv7/versions`);
      expect(versions.body.map((v: { version: string }) => v.version)).toEqual(['2.0.0', '1.0.0']);
      expect(versions.body[1]).toMatchObject({ ...digest(binary), size: 500 });
    });

    it('points channels at versions, and keeps a version a channel uses from being deleted', async () => {
      const put = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv7/channels/prod`, { version: '1.0.0', attributes: ['Gamer', 'gamer', 'camera'] });
      expect(put.status).toBe(201);
      expect(put.body).toMatchObject({ component: 'os_armv7', channel: 'prod', version: '1.0.0', attributes: ['camera', 'gamer'], allowDowngrade: false });
      const moved = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv7/channels/PROD`, { version: '2.0.0' });
      expect(moved.status).toBe(200);
      expect(moved.body).toMatchObject({ channel: 'prod', version: '2.0.0', attributes: ['camera', 'gamer'] });

      const blocked = await fetch(`${appliance.url}/api/v1/components/os_armv7/versions/2.0.0`, { method: 'DELETE', headers: adminHeaders() });
      expect(blocked.status).toBe(409);
      const deleted = await fetch(`${appliance.url}/api/v1/components/os_armv7/versions/1.0.0`, { method: 'DELETE', headers: adminHeaders() });
      expect(deleted.status).toBe(204);
      const versions = await getJson(`${appliance.url}/api/v1/components/os_armv7/versions`);
      expect(versions.body.map((v: { version: string }) => v.version)).toEqual(['2.0.0']);
      expect((await fetch(`${appliance.url}/artifacts/${digest(randomBinary(500, 11)).sha256}`)).status).toBe(404);

      expect((await getJson(`${appliance.url}/api/v1/components/os_armv7/channels/prod`)).body.version).toBe('2.0.0');
      expect((await fetch(`${appliance.url}/api/v1/components/os_armv7/channels/prod`, { method: 'DELETE', headers: adminHeaders() })).status).toBe(204);
      expect((await getJson(`${appliance.url}/api/v1/components/os_armv7/channels/prod`)).status).toBe(404);
    });

    it('refuses a channel pointing at a version that was never uploaded, or with bad flags', async () => {
      const unknown = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv7/channels/beta`, { version: '9.9.9' });
      expect(unknown.status).toBe(400);
      expect(unknown.body.message).toContain('9.9.9');
      const badFlags = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv7/channels/beta`, { version: '2.0.0', attributes: ['no spaces'] });
      expect(badFlags.status).toBe(400);
      const notJson = await fetch(`${appliance.url}/api/v1/components/os_armv7/channels/beta`, {
        method: 'PUT',
        headers: { ...adminHeaders(), 'content-type': 'application/json' },
        body: '{"version":',
      });
      expect(notJson.status).toBe(400);
      expect(await notJson.json()).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    });
  });
});
