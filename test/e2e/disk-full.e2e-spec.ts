import { createHash } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '../support/app';
import { binaryStream, getJson, sendJson, upload } from '../support/http';
import { fillVolume, mountSmallVolume, type SmallVolume } from '../support/small-volume';
import { until } from '../support/wait';

const MiB = 1024 * 1024;
const FLOOR_BYTES = 1 * MiB;

function leftoverUploads(dataDir: string): string[] {
  const uploads = join(dataDir, 'objects', 'uploads');
  return existsSync(uploads) ? readdirSync(uploads) : [];
}

async function freeBytesMetric(url: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split('\n').find((row) => row.startsWith('ota_storage_free_bytes{') && row.includes('objects'));
  return line === undefined ? undefined : Number(line.split(' ').at(-1));
}

describe('DATA_DIR on a small disk, with STORAGE_MIN_FREE_BYTES off (filesystem store, PostgreSQL)', () => {
  let volume: SmallVolume;
  let appliance: TestApp;

  beforeAll(async () => {
    volume = mountSmallVolume(8 * MiB);
    appliance = await startTestApp({ env: { DATA_DIR: volume.path, STORAGE_MIN_FREE_BYTES: '0' } });
  });

  afterAll(async () => {
    await appliance?.dispose();
    volume?.unmount();
  });

  it('answers 507 with a JSON body, not a 400 blaming the client, when the disk fills during an upload, and keeps nothing', async () => {
    // Streamed without a length, so nothing refuses it before the disk does.
    const result = await upload(appliance.url, 'os_armv8', '2.0.0', binaryStream(volume.freeBytes() + 2 * MiB));
    expect(result.status).toBe(507);
    expect(result.body).toEqual({ statusCode: 507, error: 'Insufficient Storage', message: expect.stringMatching(/no space left \(disk full\)/) });
    expect(leftoverUploads(appliance.dataDir)).toEqual([]);
    expect((await getJson(`${appliance.url}/api/v1/components/os_armv8/versions/2.0.0`)).status).toBe(404);
    expect((await upload(appliance.url, 'os_armv8', '2.0.1', Buffer.alloc(64 * 1024, 2))).status).toBe(201);
  });
});

describe('DATA_DIR on a small disk, with a STORAGE_MIN_FREE_BYTES floor (filesystem store, PostgreSQL)', () => {
  let volume: SmallVolume;
  let appliance: TestApp;
  const firmware = Buffer.alloc(256 * 1024, 'firmware');
  const sha256 = createHash('sha256').update(firmware).digest('hex');

  beforeAll(async () => {
    volume = mountSmallVolume(8 * MiB);
    appliance = await startTestApp({ env: { DATA_DIR: volume.path, STORAGE_MIN_FREE_BYTES: String(FLOOR_BYTES) } });
    expect((await upload(appliance.url, 'os_armv8', '1.0.0', firmware)).status).toBe(201);
  });

  afterAll(async () => {
    await appliance?.dispose();
    volume?.unmount();
  });

  it('stops with 507 an upload of unknown length before it eats into the floor, and keeps nothing', async () => {
    // It would fit on the disk, but not above the floor.
    const result = await upload(appliance.url, 'os_armv8', '2.0.0', binaryStream(volume.freeBytes()));
    expect(result.status).toBe(507);
    expect(result.body).toEqual({ statusCode: 507, error: 'Insufficient Storage', message: expect.stringMatching(/above STORAGE_MIN_FREE_BYTES/) });
    expect(leftoverUploads(appliance.dataDir)).toEqual([]);
  });

  it('refuses up front with 507 an upload whose declared length would leave less than STORAGE_MIN_FREE_BYTES', async () => {
    const tooBig = volume.freeBytes() - FLOOR_BYTES / 2;
    // A Buffer body is sent with its Content-Length.
    const result = await upload(appliance.url, 'os_armv8', '3.0.0', Buffer.alloc(tooBig, 3));
    expect(result.status).toBe(507);
    expect(result.body).toMatchObject({ statusCode: 507, error: 'Insufficient Storage', message: expect.stringMatching(/STORAGE_MIN_FREE_BYTES/) });
    expect(leftoverUploads(appliance.dataDir)).toEqual([]);
  });

  it('reports its free bytes on /metrics', async () => {
    const reported = await freeBytesMetric(appliance.url);
    expect(reported).toBeGreaterThan(FLOOR_BYTES);
    expect(Math.abs(reported! - volume.freeBytes())).toBeLessThan(MiB);
  });

  describe('once the disk is full', () => {
    let filler: string;

    beforeAll(() => {
      filler = fillVolume(volume);
      expect(volume.freeBytes()).toBeLessThan(FLOOR_BYTES);
    });

    afterAll(() => rmSync(filler, { force: true }));

    it('reports not ready, saying why, and exposes the low free space as a metric', async () => {
      const ready = await getJson(`${appliance.url}/readyz`, {});
      expect(ready.status).toBe(503);
      expect(ready.body).toMatchObject({ status: 'not ready', checks: { database: 'ok', storage: 'ok', disk: expect.stringMatching(/below STORAGE_MIN_FREE_BYTES/) } });
      expect(await freeBytesMetric(appliance.url)).toBeLessThan(FLOOR_BYTES);
    });

    it('refuses uploads with 507', async () => {
      const result = await upload(appliance.url, 'os_armv8', '4.0.0', Buffer.alloc(1024, 4));
      expect(result.status).toBe(507);
      expect(result.body).toMatchObject({ statusCode: 507, error: 'Insufficient Storage' });
      expect(leftoverUploads(appliance.dataDir)).toEqual([]);
    });

    it('keeps serving downloads, whole and by range, and manifests', async () => {
      const whole = await fetch(`${appliance.url}/artifacts/${sha256}`);
      expect(whole.status).toBe(200);
      expect(Buffer.from(await whole.arrayBuffer()).equals(firmware)).toBe(true);
      const part = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=100-199' } });
      expect(part.status).toBe(206);
      expect(Buffer.from(await part.arrayBuffer()).equals(firmware.subarray(100, 200))).toBe(true);
      expect((await fetch(`${appliance.url}/artifacts/${sha256}`, { method: 'HEAD' })).status).toBe(200);
      expect((await fetch(`${appliance.url}/manifests/${sha256}`)).status).toBe(200);
    });

    it('is ready and takes uploads again once space is freed', async () => {
      rmSync(filler, { force: true });
      const ready = await until(
        () => getJson(`${appliance.url}/readyz`, {}),
        (answer) => answer.status === 200,
      );
      expect(ready.body).toMatchObject({ status: 'ready', checks: { disk: 'ok' } });
      expect((await upload(appliance.url, 'os_armv8', '4.0.0', Buffer.alloc(1024, 4))).status).toBe(201);
    });
  });
});

describe('DATA_DIR on a full disk (embedded database)', () => {
  let volume: SmallVolume;
  let appliance: TestApp;
  let filler: string;
  const firmware = Buffer.alloc(128 * 1024, 'embedded');
  const sha256 = createHash('sha256').update(firmware).digest('hex');

  beforeAll(async () => {
    // A fresh embedded database takes about 40 MiB.
    volume = mountSmallVolume(96 * MiB);
    appliance = await startTestApp({ database: 'embedded', env: { DATA_DIR: volume.path, STORAGE_MIN_FREE_BYTES: String(FLOOR_BYTES) } });
    expect((await upload(appliance.url, 'os_armv8', '1.0.0', firmware)).status).toBe(201);
    filler = fillVolume(volume);
  });

  afterAll(async () => {
    await appliance?.dispose();
    volume?.unmount();
  });

  it('reports not ready, naming the database, and refuses uploads with 507', async () => {
    const ready = await getJson(`${appliance.url}/readyz`, {});
    expect(ready.status).toBe(503);
    expect(ready.body.checks.disk).toMatch(/the object store and the embedded database, below STORAGE_MIN_FREE_BYTES/);
    const result = await upload(appliance.url, 'os_armv8', '2.0.0', Buffer.alloc(1024, 5));
    expect(result.status).toBe(507);
  });

  it('answers a write the database cannot make with 507, not 500, and keeps serving downloads', async () => {
    const channel = await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });
    expect(channel.status).toBe(507);
    expect(channel.body).toEqual({ statusCode: 507, error: 'Insufficient Storage', message: expect.stringMatching(/database has no space left/) });
    const download = await fetch(`${appliance.url}/artifacts/${sha256}`);
    expect(download.status).toBe(200);
    expect(Buffer.from(await download.arrayBuffer()).equals(firmware)).toBe(true);
  });

  it('takes writes again once space is freed', async () => {
    rmSync(filler, { force: true });
    expect((await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' })).status).toBe(201);
    expect((await getJson(`${appliance.url}/readyz`, {})).status).toBe(200);
  });
});
