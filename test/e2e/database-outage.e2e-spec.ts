import { createHash } from 'node:crypto';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '../support/app';
import { getJson, sendJson, upload } from '../support/http';
import { until } from '../support/wait';

/** Deterministic bytes that differ per seed. */
function binary(size: number, seed: number): Buffer {
  const data = Buffer.alloc(size);
  let state = seed * 2654435761 || 1;
  for (let i = 0; i < size; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    data[i] = state >>> 24;
  }
  return data;
}

const sha256Hex = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * PostgreSQL refusing every connection, as during a failover or a restart: devices that were
 * offered an update must still be able to fetch it (the offer comes from the in-memory catalog,
 * so the bytes and the manifest must not need the database either), and what needs the database
 * says so with 503 and Retry-After instead of a 500.
 */
describe('serving devices while PostgreSQL refuses connections', () => {
  let appliance: TestApp;
  let admin: Client;
  let database: string;
  const data = binary(3 * 1024 * 1024 + 11, 1);
  const sha256 = sha256Hex(data);
  /** Uploaded, but its manifest never asked for before the outage. */
  const unread = binary(200 * 1024, 2);
  let manifestBefore: { text: string; etag: string };
  let lastModified: string;

  async function refuseConnections(): Promise<void> {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
    await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`, [database]);
  }

  async function allowConnections(): Promise<void> {
    await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
  }

  beforeAll(async () => {
    appliance = await startTestApp({ env: { MANIFEST_CHUNK_BYTES: String(64 * 1024) } });
    database = new URL(appliance.env.DATABASE_URL).pathname.slice(1);
    admin = new Client({ connectionString: appliance.env.DATABASE_URL.replace(`/${database}`, '/postgres') });
    await admin.connect();

    expect((await upload(appliance.url, 'os_armv8', '1.1.0', data)).status).toBe(201);
    expect((await upload(appliance.url, 'os_armv8', '1.2.0', unread)).status).toBe(201);
    expect((await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.1.0' })).status).toBe(201);
    const manifest = await fetch(`${appliance.url}/manifests/${sha256}`);
    expect(manifest.status).toBe(200);
    manifestBefore = { text: await manifest.text(), etag: manifest.headers.get('etag')! };
    const head = await fetch(`${appliance.url}/artifacts/${sha256}`, { method: 'HEAD' });
    lastModified = head.headers.get('last-modified')!;
    expect(lastModified).toBeTruthy();

    await refuseConnections();
    // The pool has really lost the database: an admin read fails now.
    expect((await getJson(`${appliance.url}/api/v1/components`)).status).toBeGreaterThanOrEqual(500);
  });

  afterAll(async () => {
    await allowConnections().catch(() => undefined);
    await admin?.end();
    await appliance?.dispose();
  });

  it('still offers the update to a device that checks', async () => {
    const check = await getJson(`${appliance.url}/package?cpuArch=armv8&payloadType=metadataOnly`, {});
    expect(check.status).toBe(200);
    expect(check.body.os_armv8).toMatchObject({ sha256, status_code: 200 });
  });

  it('serves the whole binary with its validators', async () => {
    const response = await fetch(`${appliance.url}/artifacts/${sha256}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('etag')).toBe(`"${sha256}"`);
    expect(response.headers.get('last-modified')).toBe(lastModified);
    expect(response.headers.get('content-length')).toBe(String(data.length));
    expect(Buffer.from(await response.arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers HEAD', async () => {
    const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe(String(data.length));
    expect(response.headers.get('last-modified')).toBe(lastModified);
  });

  it('serves a range, and resumes with If-Range by ETag or by date', async () => {
    const range = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=1000-1999' } });
    expect(range.status).toBe(206);
    expect(Buffer.from(await range.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);

    const byEtag = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=-10', 'if-range': `"${sha256}"` } });
    expect(byEtag.status).toBe(206);
    expect(Buffer.from(await byEtag.arrayBuffer()).equals(data.subarray(data.length - 10))).toBe(true);

    const byDate = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=5-9', 'if-range': lastModified } });
    expect(byDate.status).toBe(206);
    expect(Buffer.from(await byDate.arrayBuffer()).equals(data.subarray(5, 10))).toBe(true);

    const stale = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { range: 'bytes=5-9', 'if-range': new Date(0).toUTCString() } });
    expect(stale.status).toBe(200);
    await stale.arrayBuffer();
  });

  it('answers 304 to a client that has the binary', async () => {
    const response = await fetch(`${appliance.url}/artifacts/${sha256}`, { headers: { 'if-none-match': `"${sha256}"` } });
    expect(response.status).toBe(304);
  });

  it('serves the signed manifest, byte for byte, and 304 for its ETag', async () => {
    const response = await fetch(`${appliance.url}/manifests/${sha256}`);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(manifestBefore.text);
    const revalidated = await fetch(`${appliance.url}/manifests/${sha256}`, { headers: { 'if-none-match': manifestBefore.etag } });
    expect(revalidated.status).toBe(304);
  });

  it('serves the manifest signed at upload, though nobody asked for it before the outage', async () => {
    const response = await fetch(`${appliance.url}/manifests/${sha256Hex(unread)}`);
    expect(response.status).toBe(200);
    expect(JSON.parse(await response.text()).manifest).toMatchObject({ component: 'os_armv8', version: '1.2.0', size: unread.length });
  });

  it('answers 404 for hashes the catalog does not know', async () => {
    const unknown = 'ab'.repeat(32);
    expect((await fetch(`${appliance.url}/artifacts/${unknown}`)).status).toBe(404);
    expect((await fetch(`${appliance.url}/artifacts/${unknown}`, { method: 'HEAD' })).status).toBe(404);
    expect((await fetch(`${appliance.url}/manifests/${unknown}`)).status).toBe(404);
  });

  it('answers a status report with 503 and Retry-After, and stores it once the database is back', async () => {
    const report = { component: 'os_armv8', version: '1.1.0', state: 'installed', reportId: 'outage-1' };
    const response = await fetch(`${appliance.url}/devices/outage-dev/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(report),
    });
    expect(response.status).toBe(503);
    expect(Number(response.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await response.json()).toMatchObject({ statusCode: 503, error: 'Service Unavailable' });

    await allowConnections();
    // The device retries as told; the pool reconnects on its own.
    const retried = await until(
      () => sendJson('POST', `${appliance.url}/devices/outage-dev/status`, report, {}),
      (answer) => answer.status === 200,
    );
    expect(retried).toEqual({ status: 200, body: { stored: true } });
  });
});
