import { verify } from 'node:crypto';
import { canonicalJson } from './canonical';
import { chunkCount } from './chunks';
import type { KeyLookup } from './keys';
import type { SignedManifest } from './manifest';

/** Why a manifest was refused: a few stable words (a metrics label, an HTTP error body). */
export type ManifestRejection = 'malformed' | 'wrong-artifact' | 'unknown-key' | 'bad-signature';

/** A manifest that must not be used. */
export class ManifestRejectedError extends Error {
  override readonly name = 'ManifestRejectedError';
  constructor(
    readonly reason: ManifestRejection,
    detail: string,
  ) {
    super(`manifest rejected (${reason}): ${detail}`);
  }
}

/** Largest chunk accepted: bounds peer frames and memory per chunk. The appliance's default is 1 MiB. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
const HEX64 = /^[0-9a-f]{64}$/;

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
 * Accepts a signed manifest only when it is well formed, describes `expectedSha256`, names a
 * trusted key and carries a valid Ed25519 signature over the RFC 8785 canonical form of
 * `manifest`; otherwise throws {@link ManifestRejectedError}. Peers and caches are untrusted
 * transport: this is the only thing that makes their bytes usable.
 */
export function verifySignedManifest(value: unknown, expectedSha256: string, keys: KeyLookup): SignedManifest {
  checkShape(value, expectedSha256);
  const key = keys.get(value.manifest.keyId);
  if (!key) fail('unknown-key', `keyId ${value.manifest.keyId} is not pinned`);
  const canonical = canonicalJson(value.manifest);
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
