import { chunkCount, type Manifest } from '@app/manifest';
import { createHash } from 'node:crypto';

/** What a manifest is built from: the first stored artifact with these bytes. */
export interface ManifestSource {
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: number;
  chunkSize: number;
  /** The artifact's chunk hashes as stored: 32 bytes per chunk, concatenated. */
  chunkHashes: Uint8Array;
  createdAt: Date;
}

/** The stored chunk hashes do not fit the artifact: a fault of the data, not of the request. */
export class ChunkHashesMismatchError extends Error {
  override readonly name = 'ChunkHashesMismatchError';
}

export function buildManifest(source: ManifestSource, keyId: string): Manifest {
  const hashes = Buffer.from(source.chunkHashes);
  const expected = chunkCount(source.size, source.chunkSize);
  if (hashes.length !== expected * 32) {
    throw new ChunkHashesMismatchError(
      `artifact ${source.sha256} has ${hashes.length} bytes of chunk hashes; ${source.size} bytes in chunks of ${source.chunkSize} need ${expected * 32}`,
    );
  }
  const chunks: string[] = [];
  for (let offset = 0; offset < hashes.length; offset += 32) chunks.push(hashes.subarray(offset, offset + 32).toString('hex'));
  return {
    component: source.component,
    version: source.version,
    sha256: source.sha256,
    md5: source.md5,
    size: source.size,
    chunkSize: source.chunkSize,
    chunks,
    createdAt: source.createdAt.toISOString(),
    keyId,
  };
}

/**
 * The body of GET /manifests/{sha256}: `{"manifest":…,"signature":"…"}` with the manifest's
 * canonical text inserted as it was signed. The envelope is itself RFC 8785 canonical ("manifest"
 * sorts before "signature"), so a device without a JSON canonicalizer can verify the exact bytes
 * between `{"manifest":` and `,"signature":` (docs/device-verification.md).
 */
export function signedManifestBody(canonicalManifest: string, signatureBase64: string): string {
  return `{"manifest":${canonicalManifest},"signature":${JSON.stringify(signatureBase64)}}`;
}

/** A strong ETag of a response body. */
export function bodyEtag(body: string): string {
  return `"m-${createHash('sha256').update(body, 'utf8').digest('hex').slice(0, 32)}"`;
}
