import { canonicalJson, type Manifest } from '@app/manifest';
import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '@test/support/app';
import { getJson, upload } from '@test/support/http';
import { makeTempDir } from '@test/support/temp-dir';

const CHUNK = 64 * 1024;

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

interface KeyEntry {
  keyId: string;
  algorithm: string;
  publicKey: string;
  publicKeyPem: string;
  active: boolean;
  current: boolean;
}

async function keysOf(appliance: TestApp): Promise<KeyEntry[]> {
  const response = await getJson(`${appliance.url}/keys`, {});
  expect(response.status).toBe(200);
  return response.body.keys;
}

async function manifestOf(appliance: TestApp, sha256: string): Promise<{ status: number; text: string; headers: Headers }> {
  const response = await fetch(`${appliance.url}/manifests/${sha256}`);
  return { status: response.status, text: await response.text(), headers: response.headers };
}

/** What a device does: find the pinned key by keyId, verify the signature over the canonical manifest. */
async function verifies(signed: { manifest: Manifest; signature: string }, keys: KeyEntry[]): Promise<boolean> {
  const key = keys.find((k) => k.keyId === signed.manifest.keyId);
  if (!key) return false;
  return verify(null, Buffer.from(canonicalJson(signed.manifest), 'utf8'), createPublicKey(key.publicKeyPem), Buffer.from(signed.signature, 'base64'));
}

describe.each(['postgres', 'embedded'] as const)('signed manifests and signing keys (%s database)', (database) => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ database, env: { MANIFEST_CHUNK_BYTES: String(CHUNK) } });
  });

  afterAll(async () => appliance.dispose());

  it('lists one current Ed25519 key whose keyId is the SHA-256 prefix of the raw key, in raw and PEM form', async () => {
    const keys = await keysOf(appliance);
    expect(keys).toHaveLength(1);
    const [key] = keys;
    expect(key).toMatchObject({ algorithm: 'Ed25519', active: true, current: true });
    const raw = Buffer.from(key.publicKey, 'base64');
    expect(raw).toHaveLength(32);
    expect(key.keyId).toBe(createHash('sha256').update(raw).digest('hex').slice(0, 16));
    const fromPem = Buffer.from(createPublicKey(key.publicKeyPem).export({ format: 'jwk' }).x as string, 'base64url');
    expect(fromPem.equals(raw)).toBe(true);
  });

  it('serves a manifest of every chunk, signed over its canonical JSON with the listed key', async () => {
    const data = binary(3 * CHUNK + 17, 1);
    const stored = await upload(appliance.url, 'os_armv8', '6.15.008', data);
    expect(stored.status).toBe(201);

    const { status, text, headers } = await manifestOf(appliance, stored.body.sha256);
    expect(status).toBe(200);
    expect(headers.get('content-type')).toMatch(/^application\/json/);
    const signed = JSON.parse(text);
    const keys = await keysOf(appliance);
    expect(signed.manifest).toEqual({
      component: 'os_armv8',
      version: '6.15.008',
      sha256: sha256Hex(data),
      md5: createHash('md5').update(data).digest('hex'),
      size: data.length,
      chunkSize: CHUNK,
      chunks: [0, 1, 2, 3].map((i) => sha256Hex(data.subarray(i * CHUNK, (i + 1) * CHUNK))),
      createdAt: new Date(stored.body.createdAt).toISOString(),
      keyId: keys[0].keyId,
    });
    expect(await verifies(signed, keys)).toBe(true);

    // One changed character and the signature no longer holds.
    expect(await verifies({ ...signed, manifest: { ...signed.manifest, size: data.length + 1 } }, keys)).toBe(false);
  });

  it('is canonical JSON as a whole, so the signed bytes can be cut out of the body', async () => {
    const data = binary(CHUNK, 2);
    const { body } = await upload(appliance.url, 'modemFW', 'v2.0.0-rc.1', data);
    const { text } = await manifestOf(appliance, body.sha256);
    expect(text).toBe(canonicalJson(JSON.parse(text)));
    const signedBytes = /^\{"manifest":(.*),"signature":"[A-Za-z0-9+/=]+"\}$/.exec(text)![1];
    const [key] = await keysOf(appliance);
    expect(verify(null, Buffer.from(signedBytes), createPublicKey(key.publicKeyPem), Buffer.from(JSON.parse(text).signature, 'base64'))).toBe(true);
  });

  it('is cacheable for a day, the same bytes every time, 304 for its ETag', async () => {
    const { body } = await upload(appliance.url, 'scoreboard', '1.0.0', binary(1000, 3));
    const first = await manifestOf(appliance, body.sha256);
    expect(first.headers.get('cache-control')).toBe('public, max-age=86400');
    const etag = first.headers.get('etag')!;
    expect(etag).toMatch(/^"m-[0-9a-f]{32}"$/);
    const again = await manifestOf(appliance, body.sha256.toUpperCase());
    expect(again.text).toBe(first.text);
    const revalidated = await fetch(`${appliance.url}/manifests/${body.sha256}`, { headers: { 'if-none-match': etag } });
    expect(revalidated.status).toBe(304);
    expect(await revalidated.text()).toBe('');
  });

  it('describes an empty artifact with no chunks', async () => {
    const { body } = await upload(appliance.url, 'emptyThing', '1.0', Buffer.alloc(0));
    const signed = JSON.parse((await manifestOf(appliance, body.sha256)).text);
    expect(signed.manifest).toMatchObject({ size: 0, chunks: [], sha256: sha256Hex(Buffer.alloc(0)) });
    expect(await verifies(signed, await keysOf(appliance))).toBe(true);
  });

  it('answers 400 for what is not a SHA-256 and 404 for a hash no artifact has', async () => {
    const bad = await manifestOf(appliance, 'not-a-hash');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.text)).toMatchObject({ statusCode: 400, error: 'Bad Request' });
    const unknown = await manifestOf(appliance, 'a'.repeat(64));
    expect(unknown.status).toBe(404);
    expect(unknown.headers.get('cache-control')).toBe('no-store');
  });

  it('names the first stored version when one binary is stored under two, and the remaining one once that is deleted', async () => {
    const data = binary(2 * CHUNK, 4);
    const first = await upload(appliance.url, 'videoStreamer', '0.0.1', data);
    await upload(appliance.url, 'camera', '3.1', data);
    const before = JSON.parse((await manifestOf(appliance, first.body.sha256)).text);
    expect(before.manifest).toMatchObject({ component: 'videoStreamer', version: '0.0.1' });

    const deleted = await fetch(`${appliance.url}/api/v1/components/videoStreamer/versions/0.0.1`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${appliance.env.ADMIN_API_KEY}` },
    });
    expect(deleted.status).toBe(204);
    const after = JSON.parse((await manifestOf(appliance, first.body.sha256)).text);
    expect(after.manifest).toMatchObject({ component: 'camera', version: '3.1', sha256: first.body.sha256 });
    expect(await verifies(after, await keysOf(appliance))).toBe(true);
  });
});

describe('manifests across replicas and key rotation', () => {
  let first: TestApp;
  const replicas: TestApp[] = [];
  const keyDir = makeTempDir('ota-keys-');

  beforeAll(async () => {
    first = await startTestApp();
  });

  afterAll(async () => {
    for (const replica of replicas) await replica.stop();
    await first.dispose();
    keyDir.remove();
  });

  it('gives replicas that share a volume one key, and every replica the same stored manifest, even when asked at once', async () => {
    const second = await startTestApp({ replicaOf: first });
    replicas.push(second);
    expect(await keysOf(second)).toEqual(await keysOf(first));

    const { body } = await upload(first.url, 'os_armv8', '1.1.0', binary(5 * 1024 * 1024 + 3, 5));
    const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => manifestOf(i % 2 ? second : first, body.sha256)));
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(new Set(answers.map((answer) => answer.text)).size).toBe(1);
  });

  it('builds a missing manifest on demand, byte for byte the one it had (artifacts stored before the manifests table)', async () => {
    const { body } = await upload(first.url, 'ipModule', '5.6.14', binary(3 * 1024 * 1024, 9));
    const served = (await manifestOf(first, body.sha256)).text;
    const db = new Client({ connectionString: first.env.DATABASE_URL });
    await db.connect();
    try {
      expect((await db.query('DELETE FROM manifests WHERE sha256 = $1', [body.sha256])).rowCount).toBe(1);
      // A replica that never served it (this one still holds it in memory).
      const fresh = await startTestApp({ replicaOf: first });
      replicas.push(fresh);
      // Ed25519 signatures are deterministic and createdAt is the artifact's: nothing a cache holds goes stale.
      expect((await manifestOf(fresh, body.sha256)).text).toBe(served);
      expect((await db.query('SELECT count(*)::int AS n FROM manifests WHERE sha256 = $1', [body.sha256])).rows[0].n).toBe(1);
    } finally {
      await db.end();
    }
  });

  it('keeps serving manifests signed by a previous key that is still trusted, and signs new ones with the current key', async () => {
    const { body: old } = await upload(first.url, 'modemFW', '1.0', binary(4000, 6));
    const oldManifest = (await manifestOf(first, old.sha256)).text;
    const [oldKey] = await keysOf(first);

    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const keyFile = join(keyDir.path, 'new.pem');
    const oldPublicFile = join(keyDir.path, 'old.pub.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    writeFileSync(oldPublicFile, oldKey.publicKeyPem);
    const rotated = await startTestApp({ replicaOf: first, env: { SIGNING_KEY_FILE: keyFile, SIGNING_TRUSTED_KEYS: oldPublicFile } });
    replicas.push(rotated);

    const keys = await keysOf(rotated);
    const rawNew = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    expect(keys.map((k) => [k.publicKey, k.current, k.active])).toEqual([
      [rawNew.toString('base64'), true, true],
      [oldKey.publicKey, false, true],
    ]);
    expect((await manifestOf(rotated, old.sha256)).text).toBe(oldManifest);

    const { body: fresh } = await upload(rotated.url, 'modemFW', '1.1', binary(4000, 7));
    const signed = JSON.parse((await manifestOf(rotated, fresh.sha256)).text);
    expect(signed.manifest.keyId).toBe(keys[0].keyId);
    expect(await verifies(signed, keys)).toBe(true);
  });

  it('signs a manifest again when its key is no longer listed (retired)', async () => {
    const { body } = await upload(first.url, 'scoreboard', '2.0', binary(4000, 8));
    const original = JSON.parse((await manifestOf(first, body.sha256)).text);
    const { privateKey } = generateKeyPairSync('ed25519');
    const keyFile = join(keyDir.path, 'only.pem');
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const retiring = await startTestApp({ replicaOf: first, env: { SIGNING_KEY_FILE: keyFile } });
    replicas.push(retiring);

    const keys = await keysOf(retiring);
    expect(keys).toHaveLength(1);
    const resigned = JSON.parse((await manifestOf(retiring, body.sha256)).text);
    expect(resigned.manifest).toEqual({ ...original.manifest, keyId: keys[0].keyId });
    expect(await verifies(resigned, keys)).toBe(true);
  });
});
