import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeKey } from '@peer-agent/test-support/fixtures';
import { loadTrustStore, parsePublicKey, TrustKeyError } from './trust-store';

describe(parsePublicKey.name, () => {
  it('reads base64 raw and PEM forms of one key to the same keyId', () => {
    const key = makeKey();
    expect(parsePublicKey(key.publicKeyBase64).keyId).toBe(key.keyId);
    expect(parsePublicKey(key.publicKeyPem).keyId).toBe(key.keyId);
    expect(key.keyId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('refuses what is not an Ed25519 public key', () => {
    expect(() => parsePublicKey('not-a-key')).toThrow(TrustKeyError);
    expect(() => parsePublicKey(Buffer.alloc(31).toString('base64'))).toThrow(TrustKeyError);
  });
});

describe(loadTrustStore.name, () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'trust-'));
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it("pins the origin's active keys on first start and never asks the origin again", async () => {
    const first = makeKey();
    const retired = makeKey();
    const pinFile = join(dir, 'trusted-keys.json');
    const fetchKeys = jest.fn(async () => ({
      keys: [
        { keyId: first.keyId, algorithm: 'Ed25519', publicKey: first.publicKeyBase64, active: true },
        { keyId: retired.keyId, algorithm: 'Ed25519', publicKey: retired.publicKeyBase64, active: false },
      ],
    }));
    const initial = await loadTrustStore({ configured: [], pinFile, fetchKeys });
    expect(initial.source).toBe('origin');
    expect(initial.store.list().map((k) => k.keyId)).toEqual([first.keyId]);
    expect(JSON.parse(await readFile(pinFile, 'utf8')).keys).toHaveLength(1);

    // Later the origin serves a different key: the pin stands.
    const other = makeKey();
    const later = await loadTrustStore({ configured: [], pinFile, fetchKeys: async () => ({ keys: [{ publicKey: other.publicKeyBase64 }] }) });
    expect(later.source).toBe('pinned');
    expect(later.store.get(first.keyId)).toBeDefined();
    expect(later.store.get(other.keyId)).toBeUndefined();
    expect(fetchKeys).toHaveBeenCalledTimes(1);
  });

  it('uses operator-given keys and ignores the pin file', async () => {
    const given = makeKey();
    const { store, source } = await loadTrustStore({
      configured: [given.publicKeyPem],
      pinFile: join(dir, 'none.json'),
      fetchKeys: () => Promise.reject(new Error('must not be called')),
    });
    expect(source).toBe('configured');
    expect(store.get(given.keyId)).toBeDefined();
  });

  it('refuses an origin /keys entry whose keyId does not match its key', async () => {
    const key = makeKey();
    await expect(
      loadTrustStore({ configured: [], pinFile: join(dir, 'k.json'), fetchKeys: async () => ({ keys: [{ keyId: '0000000000000000', publicKey: key.publicKeyBase64 }] }) }),
    ).rejects.toThrow(/keyId/);
  });
});
