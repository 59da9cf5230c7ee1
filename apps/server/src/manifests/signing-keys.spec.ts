import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@test/support/temp-dir';
import { SigningKeys } from './signing-keys';

describe(SigningKeys.name, () => {
  const dir = makeTempDir('ota-signing-');
  afterAll(() => dir.remove());

  it('creates an Ed25519 key on first start, readable only by its owner, and reuses it afterwards', async () => {
    const keyFile = join(dir.path, 'first', 'signing', 'ed25519.pem');
    const created = await SigningKeys.load({ keyFile, trustedPublicKeyFiles: [] });
    expect(created.created).toBe(true);
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');

    const again = await SigningKeys.load({ keyFile, trustedPublicKeyFiles: [] });
    expect(again.created).toBe(false);
    expect(again.currentKeyId).toBe(created.currentKeyId);
  });

  it('lets replicas that start at once on one volume agree on a single key', async () => {
    const keyFile = join(dir.path, 'race', 'ed25519.pem');
    const loaded = await Promise.all(Array.from({ length: 8 }, () => SigningKeys.load({ keyFile, trustedPublicKeyFiles: [] })));
    expect(loaded.filter((keys) => keys.created)).toHaveLength(1);
    expect(new Set(loaded.map((keys) => keys.currentKeyId)).size).toBe(1);
  });

  it('signs with the current key and lists it first, with trusted keys after it, each once', async () => {
    const keyFile = join(dir.path, 'rotation.pem');
    const previous = generateKeyPairSync('ed25519').publicKey;
    const previousFile = join(dir.path, 'previous.pub.pem');
    writeFileSync(previousFile, previous.export({ format: 'pem', type: 'spki' }));
    const keys = await SigningKeys.load({ keyFile, trustedPublicKeyFiles: [previousFile, previousFile] });

    const listed = keys.list();
    expect(listed.map((key) => key.current)).toEqual([true, false]);
    const rawPrevious = Buffer.from(previous.export({ format: 'jwk' }).x as string, 'base64url');
    expect(listed[1]).toMatchObject({ keyId: createHash('sha256').update(rawPrevious).digest('hex').slice(0, 16), publicKey: rawPrevious.toString('base64'), active: true });
    expect(keys.isActive(listed[1].keyId)).toBe(true);
    expect(keys.isActive('0123456789abcdef')).toBe(false);

    const data = Buffer.from('{"a":1}');
    expect(verify(null, data, createPublicKey(listed[0].publicKeyPem), keys.sign(data))).toBe(true);
  });

  it.each([
    [
      'a key file that is not Ed25519',
      () => ({
        keyFile: writeKey('rsa.pem', generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' }) as string),
        trustedPublicKeyFiles: [],
      }),
      /SIGNING_KEY_FILE .*rsa\.pem holds a rsa key/,
    ],
    [
      'a key file that is not PEM',
      () => ({ keyFile: writeKey('garbage.pem', 'not a key'), trustedPublicKeyFiles: [] }),
      /SIGNING_KEY_FILE .*garbage\.pem is not a PEM private key/,
    ],
    [
      'a trusted key file that is missing',
      () => ({ keyFile: join(dir.path, 'ok.pem'), trustedPublicKeyFiles: [join(dir.path, 'missing.pem')] }),
      /SIGNING_TRUSTED_KEYS: cannot read .*missing\.pem/,
    ],
  ])('refuses %s, naming the file', async (_label, settings, message) => {
    await expect(SigningKeys.load(settings())).rejects.toThrow(message);
  });

  function writeKey(name: string, pem: string): string {
    const file = join(dir.path, name);
    writeFileSync(file, pem);
    return file;
  }
});
