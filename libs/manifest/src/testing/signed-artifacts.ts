import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { canonicalJson } from '../canonical';
import { keyIdOf, rawPublicKey, type KeyLookup } from '../keys';
import type { Manifest, SignedManifest } from '../manifest';

/**
 * Keys and signed artifacts for tests, signed the way the appliance signs.
 * Test helpers: not exported from the library's index.
 */
export interface TestKey {
  keyId: string;
  publicKeyBase64: string;
  publicKeyPem: string;
  privateKey: KeyObject;
}

/** A fresh Ed25519 key pair. */
export function makeKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = rawPublicKey(publicKey);
  return { keyId: keyIdOf(raw), publicKeyBase64: raw.toString('base64'), publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), privateKey };
}

/** Trusts exactly these keys. */
export function keyLookupOf(...keys: TestKey[]): KeyLookup {
  const byId = new Map(keys.map((key) => [key.keyId, createPublicKey(key.publicKeyPem)]));
  return { get: (keyId) => byId.get(keyId) };
}

/** `manifest` with `key`'s keyId, signed by `key`. */
export function signManifest(manifest: Manifest, key: TestKey): SignedManifest {
  const body = { ...manifest, keyId: key.keyId };
  return { manifest: body, signature: sign(null, Buffer.from(canonicalJson(body), 'utf8'), key.privateKey).toString('base64') };
}

export interface TestArtifact {
  data: Buffer;
  manifest: Manifest;
  signed: SignedManifest;
  chunk(index: number): Buffer;
}

/** A random artifact with its manifest, signed by `key`. */
export function makeArtifact(size: number, chunkSize: number, key: TestKey): TestArtifact {
  const data = randomBytes(size);
  const chunks: string[] = [];
  for (let offset = 0; offset < size; offset += chunkSize) {
    chunks.push(
      createHash('sha256')
        .update(data.subarray(offset, offset + chunkSize))
        .digest('hex'),
    );
  }
  const manifest: Manifest = {
    component: 'modemFW',
    version: '1.2.3',
    sha256: createHash('sha256').update(data).digest('hex'),
    md5: createHash('md5').update(data).digest('hex'),
    size,
    chunkSize,
    chunks,
    createdAt: new Date().toISOString(),
    keyId: key.keyId,
  };
  const signed = signManifest(manifest, key);
  return { data, manifest: signed.manifest, signed, chunk: (i) => data.subarray(i * chunkSize, Math.min(size, (i + 1) * chunkSize)) };
}
