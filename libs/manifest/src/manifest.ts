/**
 * The signed statement about one artifact (ARCHITECTURE "Manifest"). Devices and peer agents
 * verify it with a pinned key, then every chunk and the whole file against it: whoever carried the
 * bytes (a peer, a CDN, a cache) does not matter.
 *
 * A manifest received from elsewhere may carry fields a later appliance adds: they are covered by
 * the signature, kept as they are by {@link verifySignedManifest}, and not part of this type.
 */
export interface Manifest {
  component: string;
  version: string;
  /** SHA-256 (lower-case hex) of the whole file: the artifact's identity. */
  sha256: string;
  md5: string;
  size: number;
  chunkSize: number;
  /** SHA-256 (hex) of each chunkSize slice of the file, in order; the last may be short. */
  chunks: string[];
  /** When the artifact was stored (ISO 8601, UTC). */
  createdAt: string;
  /** The key that signed it (see GET /keys). */
  keyId: string;
}

/**
 * The document served at `GET /manifests/{sha256}`: the manifest and the Ed25519 signature
 * (base64) over its RFC 8785 canonical form ({@link canonicalJson}).
 */
export interface SignedManifest {
  manifest: Manifest;
  signature: string;
}
