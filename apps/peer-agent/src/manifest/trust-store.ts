import { keyIdOf, rawPublicKey, type KeyLookup } from '@app/manifest';
import { createPublicKey, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

/** One pinned Ed25519 public key. */
export interface TrustedKey {
  keyId: string;
  /** Raw 32-byte public key, base64. */
  publicKey: string;
  key: KeyObject;
}

export class TrustKeyError extends Error {
  override readonly name = 'TrustKeyError';
}

/** Parses an Ed25519 public key given as base64 of the raw 32 bytes, or as an SPKI PEM block. */
export function parsePublicKey(text: string): TrustedKey {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('-----BEGIN')) {
      key = createPublicKey({ key: trimmed, format: 'pem' });
    } else {
      const raw = Buffer.from(trimmed, 'base64');
      if (raw.length !== 32 || raw.toString('base64').replace(/=+$/, '') !== trimmed.replace(/=+$/, '')) {
        throw new TrustKeyError('not base64 of 32 bytes');
      }
      key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
    }
  } catch (error) {
    throw new TrustKeyError(`not an Ed25519 public key (base64 raw or PEM): ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new TrustKeyError(`expected an Ed25519 key, got ${key.asymmetricKeyType}`);
  const raw = rawPublicKey(key);
  return { keyId: keyIdOf(raw), publicKey: raw.toString('base64'), key };
}

/** The keys manifests may be signed with. */
export class TrustStore implements KeyLookup {
  private readonly keys = new Map<string, TrustedKey>();

  constructor(keys: TrustedKey[]) {
    for (const k of keys) this.keys.set(k.keyId, k);
  }

  get(keyId: string): KeyObject | undefined {
    return this.keys.get(keyId)?.key;
  }

  list(): TrustedKey[] {
    return [...this.keys.values()];
  }
}

/** Shape of the origin's `GET /keys`. */
interface KeysDocument {
  keys: Array<{ keyId?: unknown; algorithm?: unknown; publicKey?: unknown; active?: unknown }>;
}

/**
 * Decides which keys to trust, trust-on-first-use style: keys given by the operator win; otherwise
 * keys pinned earlier in the cache directory; otherwise the origin's `/keys` is fetched once and
 * pinned. Once pinned, the origin can no longer change what this agent trusts (a key served later
 * by a compromised or misconfigured origin is never picked up): rotating means `--trust-key` or
 * deleting the pin file.
 */
export async function loadTrustStore(options: {
  configured: string[];
  pinFile: string;
  fetchKeys: () => Promise<unknown>;
}): Promise<{ store: TrustStore; source: 'configured' | 'pinned' | 'origin' }> {
  if (options.configured.length > 0) {
    return { store: new TrustStore(options.configured.map(parsePublicKey)), source: 'configured' };
  }
  const pinned = await readPinned(options.pinFile);
  if (pinned) return { store: new TrustStore(pinned), source: 'pinned' };

  const doc = (await options.fetchKeys()) as KeysDocument;
  if (!doc || !Array.isArray(doc.keys)) throw new TrustKeyError("origin's /keys did not return { keys: [...] }");
  const keys = doc.keys
    // Retired keys stay listed by the origin for reference; only keys it still signs with are pinned.
    .filter((k) => k.active !== false && (k.algorithm === undefined || k.algorithm === 'Ed25519'))
    .map((k) => {
      if (typeof k.publicKey !== 'string') throw new TrustKeyError("origin's /keys entry without publicKey");
      const parsed = parsePublicKey(k.publicKey);
      if (typeof k.keyId === 'string' && k.keyId !== parsed.keyId) {
        throw new TrustKeyError(`origin's /keys says keyId ${k.keyId} but the key hashes to ${parsed.keyId}`);
      }
      return parsed;
    });
  if (keys.length === 0) throw new TrustKeyError("origin's /keys lists no active Ed25519 key");
  await writePinned(options.pinFile, keys);
  return { store: new TrustStore(keys), source: 'origin' };
}

async function readPinned(file: string): Promise<TrustedKey[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const doc = JSON.parse(text) as { keys?: Array<{ publicKey: string }> };
  if (!Array.isArray(doc.keys) || doc.keys.length === 0) throw new TrustKeyError(`${file} holds no keys; delete it to pin again`);
  return doc.keys.map((k) => parsePublicKey(k.publicKey));
}

async function writePinned(file: string, keys: TrustedKey[]): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.trusted-keys.${process.pid}.tmp`);
  const doc = { pinnedAt: new Date().toISOString(), keys: keys.map((k) => ({ keyId: k.keyId, algorithm: 'Ed25519', publicKey: k.publicKey })) };
  await writeFile(tmp, JSON.stringify(doc, null, 2) + '\n', { mode: 0o644 });
  await rename(tmp, file);
}
