import { databaseOf } from '@test/support/database';
import { adminHeaders, startTestApp, TEST_ADMIN_KEY, type TestApp } from '@test/support/app';
import { getJson, sendJson, upload } from '@test/support/http';

describe('admin API authentication', () => {
  let appliance: TestApp;
  const keys: Record<string, string> = {};

  beforeAll(async () => {
    appliance = await startTestApp();
    for (const scope of ['read', 'write', 'admin'] as const) {
      const created = await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: `${scope} key`, scope });
      expect(created.status).toBe(201);
      keys[scope] = created.body.key;
    }
  });

  afterAll(async () => appliance.dispose());

  it('answers 401 without a key, with a malformed header and with a wrong key', async () => {
    for (const headers of [{}, { authorization: TEST_ADMIN_KEY }, { authorization: 'Bearer wrong-key' }] as Record<string, string>[]) {
      const response = await getJson(`${appliance.url}/api/v1/components`, headers);
      expect(response.status).toBe(401);
      expect(response.body).toMatchObject({ statusCode: 401, error: 'Unauthorized' });
      expect(response.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('answers 401 to an upload with a wrong key and stores nothing', async () => {
    const result = await upload(appliance.url, 'sneaky', '1.0.0', Buffer.alloc(1000), { key: 'not-a-key' });
    expect(result.status).toBe(401);
    expect((await getJson(`${appliance.url}/api/v1/components/sneaky/versions`)).status).toBe(404);
  });

  it('lets a read key list but not upload, a write key upload but not manage keys', async () => {
    expect((await getJson(`${appliance.url}/api/v1/components`, adminHeaders(keys.read))).status).toBe(200);
    const readUpload = await upload(appliance.url, 'scoped', '1.0.0', Buffer.alloc(10), { key: keys.read });
    expect(readUpload.status).toBe(403);
    expect(readUpload.body.message).toContain('write');

    expect((await upload(appliance.url, 'scoped', '1.0.0', Buffer.alloc(10), { key: keys.write })).status).toBe(201);
    expect((await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: 'x', scope: 'read' }, adminHeaders(keys.write))).status).toBe(403);
    expect((await getJson(`${appliance.url}/api/v1/keys`, adminHeaders(keys.admin))).status).toBe(200);
  });

  it('shows a new key once, stores only its hash, and revokes it at once', async () => {
    const created = await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: 'temporary', scope: 'read' });
    expect(created.body.key).toMatch(/^ota_[A-Za-z0-9_-]{43}$/);
    const listed = await getJson(`${appliance.url}/api/v1/keys`);
    const entry = listed.body.find((key: { id: string }) => key.id === created.body.id);
    expect(entry).toMatchObject({ name: 'temporary', scope: 'read', revokedAt: null });
    expect(JSON.stringify(listed.body)).not.toContain(created.body.key);
    const stored: { key_hash: string }[] = await databaseOf(appliance).query('SELECT key_hash FROM api_keys');
    expect(stored.map((row) => row.key_hash)).not.toContain(created.body.key);

    expect((await getJson(`${appliance.url}/api/v1/components`, adminHeaders(created.body.key))).status).toBe(200);
    const revoked = await fetch(`${appliance.url}/api/v1/keys/${created.body.id}`, { method: 'DELETE', headers: adminHeaders() });
    expect(revoked.status).toBe(204);
    expect((await getJson(`${appliance.url}/api/v1/components`, adminHeaders(created.body.key))).status).toBe(401);
  });

  it('validates new keys', async () => {
    const bad = await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: '', scope: 'root' });
    expect(bad.status).toBe(400);
    expect(bad.body.message).toEqual(expect.arrayContaining([expect.stringContaining('scope')]));
    const unknownField = await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: 'a', scope: 'read', extra: 1 });
    expect(unknownField.status).toBe(400);
  });

  it('refuses to revoke the last admin key', async () => {
    const listed = await getJson(`${appliance.url}/api/v1/keys`);
    const admins = listed.body.filter((key: { scope: string; revokedAt: string | null }) => key.scope === 'admin' && !key.revokedAt);
    expect(admins).toHaveLength(2);
    const other = admins.find((key: { name: string }) => key.name === 'admin key');
    expect((await fetch(`${appliance.url}/api/v1/keys/${other.id}`, { method: 'DELETE', headers: adminHeaders() })).status).toBe(204);
    const last = admins.find((key: { name: string }) => key.name !== 'admin key');
    const refused = await fetch(`${appliance.url}/api/v1/keys/${last.id}`, { method: 'DELETE', headers: adminHeaders() });
    expect(refused.status).toBe(409);
  });
});
