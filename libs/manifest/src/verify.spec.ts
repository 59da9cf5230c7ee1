import { keyLookupOf, makeArtifact, makeKey, signManifest } from './testing/signed-artifacts';
import { ManifestRejectedError, verifySignedManifest } from './verify';

const key = makeKey();
const keys = keyLookupOf(key);
const artifact = makeArtifact(2.5 * 1024, 1024, key);

function rejection(value: unknown, sha256 = artifact.manifest.sha256, store = keys): string {
  try {
    verifySignedManifest(value, sha256, store);
  } catch (error) {
    if (error instanceof ManifestRejectedError) return error.reason;
    throw error;
  }
  return 'accepted';
}

describe(verifySignedManifest.name, () => {
  it('accepts a manifest signed by a pinned key', () => {
    expect(verifySignedManifest(JSON.parse(JSON.stringify(artifact.signed)), artifact.manifest.sha256, keys).manifest).toEqual(artifact.manifest);
  });

  it('keeps fields it does not know, since the signature covers them', () => {
    const extended = signManifest({ ...artifact.manifest, requiresFrom: '1.0.0' } as typeof artifact.manifest, key);
    expect(verifySignedManifest(JSON.parse(JSON.stringify(extended)), artifact.manifest.sha256, keys).manifest).toEqual({ ...artifact.manifest, requiresFrom: '1.0.0' });
  });

  it('rejects a flipped bit in the signature', () => {
    const sig = Buffer.from(artifact.signed.signature, 'base64');
    sig[0] ^= 1;
    expect(rejection({ ...artifact.signed, signature: sig.toString('base64') })).toBe('bad-signature');
  });

  it('rejects a manifest whose content changed after signing', () => {
    const chunks = [...artifact.manifest.chunks];
    chunks[1] = 'f'.repeat(64);
    expect(rejection({ ...artifact.signed, manifest: { ...artifact.manifest, chunks } })).toBe('bad-signature');
  });

  it('rejects a manifest signed by a key that is not pinned, even when it names a pinned keyId', () => {
    const stranger = makeKey();
    expect(rejection(signManifest(artifact.manifest, stranger))).toBe('unknown-key');
    const impostor = signManifest(artifact.manifest, stranger);
    impostor.manifest.keyId = key.keyId;
    expect(rejection(impostor)).toBe('bad-signature');
  });

  it('rejects a valid manifest of another artifact', () => {
    expect(rejection(artifact.signed, 'a'.repeat(64))).toBe('wrong-artifact');
  });

  it.each([
    ['not an object', 'x'],
    ['no signature', { manifest: artifact.manifest }],
    ['a chunk count that does not match the size', { ...artifact.signed, manifest: { ...artifact.manifest, size: 10 * 1024 } }],
    ['a zero chunk size', { ...artifact.signed, manifest: { ...artifact.manifest, chunkSize: 0 } }],
    ['a chunk hash that is not hex', { ...artifact.signed, manifest: { ...artifact.manifest, chunks: ['zz', ...artifact.manifest.chunks.slice(1)] } }],
  ])('rejects a malformed manifest: %s', (_what, value) => {
    expect(rejection(value)).toBe('malformed');
  });
});
