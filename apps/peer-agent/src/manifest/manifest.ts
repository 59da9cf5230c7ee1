import { createHash, verify, type KeyObject } from 'node:crypto';

/** The signed part of a manifest, as the origin serves it (`GET /manifests/{sha256}` → `manifest`). */
export interface Manifest {
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: number;
  chunkSize: number;
  chunks: string[];
  createdAt: string;
  keyId: string;
  /** Fields the origin may add later are covered by the signature and kept as they are. */
  [extra: string]: unknown;
}

/** The document served at `/manifests/{sha256}`: the manifest and its Ed25519 signature (base64). */
export interface SignedManifest {
  manifest: Manifest;
  signature: string;
}

/** RFC 8785 canonical JSON; injected so this module has no ESM-only import (the `canonicalize` package is loaded at boot). */
export type Canonicalize = (value: unknown) => string | undefined;

/** Looks up a pinned public key by its keyId. */
export interface KeyLookup {
  get(keyId: string): KeyObject | undefined;
}

export type ManifestRejection = 'malformed' | 'wrong-artifact' | 'unknown-key' | 'bad-signature';

/** A manifest that must not be used; `reason` is one of a few stable words (metrics label, HTTP error body). */
export class ManifestRejectedError extends Error {
  override readonly name = 'ManifestRejectedError';
  constructor(
    readonly reason: ManifestRejection,
    detail: string,
  ) {
    super(`manifest rejected (${reason}): ${detail}`);
  }
}

/** Largest chunk we accept: bounds peer frames and memory per chunk. The origin's default is 1 MiB. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

/** Number of chunks an artifact of `size` bytes has (0 for an empty file). */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Exact length of chunk `index` (the last one may be short). */
export function chunkLength(manifest: Pick<Manifest, 'size' | 'chunkSize'>, index: number): number {
  const start = index * manifest.chunkSize;
  return Math.max(0, Math.min(manifest.chunkSize, manifest.size - start));
}

/** True when `data` is chunk `index` of the manifest (length and SHA-256). */
export function chunkMatches(manifest: Manifest, index: number, data: Uint8Array): boolean {
  if (data.byteLength !== chunkLength(manifest, index)) return false;
  return createHash('sha256').update(data).digest('hex') === manifest.chunks[index];
}

function fail(reason: ManifestRejection, detail: string): never {
  throw new ManifestRejectedError(reason, detail);
}

function checkShape(value: unknown, expectedSha256: string): asserts value is SignedManifest {
  if (typeof value !== 'object' || value === null) fail('malformed', 'not a JSON object');
  const { manifest: m, signature } = value as Record<string, unknown>;
  if (typeof signature !== 'string' || signature.length === 0) fail('malformed', 'signature missing');
  if (typeof m !== 'object' || m === null || Array.isArray(m)) fail('malformed', 'manifest missing');
  const manifest = m as Record<string, unknown>;
  for (const field of ['component', 'version', 'md5', 'createdAt', 'keyId']) {
    if (typeof manifest[field] !== 'string') fail('malformed', `${field} missing`);
  }
  if (typeof manifest.sha256 !== 'string' || !HEX64.test(manifest.sha256)) fail('malformed', 'sha256 is not 64 hex digits');
  if (manifest.sha256 !== expectedSha256) fail('wrong-artifact', `asked for ${expectedSha256}, got ${manifest.sha256}`);
  const { size, chunkSize, chunks } = manifest;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) fail('malformed', 'size');
  if (typeof chunkSize !== 'number' || !Number.isSafeInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    fail('malformed', `chunkSize must be 1..${MAX_CHUNK_SIZE}`);
  }
  if (!Array.isArray(chunks) || chunks.length !== chunkCount(size, chunkSize)) fail('malformed', 'chunks length does not match size');
  if (!chunks.every((c) => typeof c === 'string' && HEX64.test(c))) fail('malformed', 'chunk hashes must be 64 hex digits');
}

/**
 * Accepts a signed manifest only when it is well formed, describes `expectedSha256`, names a pinned
 * key and carries a valid Ed25519 signature over the RFC 8785 canonical form of `manifest`.
 * Peers and caches are untrusted transport: this is the only thing that makes their bytes usable.
 */
export function verifySignedManifest(value: unknown, expectedSha256: string, keys: KeyLookup, canonicalize: Canonicalize): SignedManifest {
  checkShape(value, expectedSha256);
  const key = keys.get(value.manifest.keyId);
  if (!key) fail('unknown-key', `keyId ${value.manifest.keyId} is not pinned`);
  const canonical = canonicalize(value.manifest);
  if (canonical === undefined) fail('malformed', 'manifest cannot be canonicalized');
  const signature = Buffer.from(value.signature, 'base64');
  let valid = false;
  try {
    valid = verify(null, Buffer.from(canonical, 'utf8'), key, signature);
  } catch {
    valid = false;
  }
  if (!valid) fail('bad-signature', `signature does not verify with key ${value.manifest.keyId}`);
  return { manifest: value.manifest, signature: value.signature };
}
