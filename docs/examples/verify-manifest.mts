/**
 * How a device verifies what it downloaded against the appliance's signed manifest
 * (docs/device-verification.md). Node 24 runs it as it is (type stripping); the only package it
 * needs is `canonicalize` (RFC 8785). It is self-contained on purpose, to be copied: the appliance's
 * own implementation is libs/manifest, and the tests check that the two agree.
 *
 *   node verify-manifest.mts pin <appliance-url> <pinned-keys.json>
 *       once, at provisioning: fetch GET /keys and keep them (trust on first use)
 *   node verify-manifest.mts verify <manifest-url> <pinned-keys.json> <firmware.bin>
 *       for every download: exit 0 and "verified" when the signature and every byte check out,
 *       exit 1 and the reason otherwise
 */
import canonicalize from 'canonicalize';
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { open, readFile, writeFile } from 'node:fs/promises';

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
}

interface PinnedKey {
  keyId: string;
  publicKey: string;
}

export class VerificationError extends Error {}

/** keyId as the appliance defines it: the first 16 hex digits of SHA-256 of the raw 32-byte key. */
function keyIdOf(raw: Buffer): string {
  return createHash('sha256').update(raw).digest('hex').slice(0, 16);
}

function ed25519Key(base64Raw: string): KeyObject {
  const raw = Buffer.from(base64Raw, 'base64');
  if (raw.length !== 32) throw new VerificationError('a pinned key is not 32 bytes');
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') }, format: 'jwk' });
}

/** Fetches GET /keys once and stores the keys, after checking that each keyId matches its key. */
export async function pinKeys(applianceUrl: string, file: string): Promise<PinnedKey[]> {
  const response = await fetch(`${applianceUrl.replace(/\/+$/, '')}/keys`);
  if (!response.ok) throw new VerificationError(`GET /keys answered ${response.status}`);
  const { keys } = (await response.json()) as { keys: { keyId: string; algorithm: string; publicKey: string; active: boolean }[] };
  const pinned = keys
    .filter((key) => key.algorithm === 'Ed25519' && key.active)
    .map((key) => {
      if (keyIdOf(Buffer.from(key.publicKey, 'base64')) !== key.keyId) throw new VerificationError(`keyId ${key.keyId} does not match its key`);
      return { keyId: key.keyId, publicKey: key.publicKey };
    });
  if (pinned.length === 0) throw new VerificationError('GET /keys lists no active Ed25519 key');
  await writeFile(file, JSON.stringify({ keys: pinned }, null, 2));
  return pinned;
}

/**
 * Checks the signature: the manifest must name a pinned key, and the Ed25519 signature must hold
 * over the RFC 8785 canonical JSON of the manifest. Only then is anything in it worth reading.
 */
export function verifySignedManifest(signed: { manifest: Manifest; signature: string }, pinned: PinnedKey[], expectedSha256?: string): Manifest {
  const key = pinned.find((candidate) => candidate.keyId === signed.manifest?.keyId);
  if (!key) throw new VerificationError(`manifest signed by key ${String(signed.manifest?.keyId)}, which is not pinned`);
  const canonical = canonicalize(signed.manifest);
  if (canonical === undefined || !verify(null, Buffer.from(canonical, 'utf8'), ed25519Key(key.publicKey), Buffer.from(signed.signature, 'base64'))) {
    throw new VerificationError('bad signature');
  }
  if (expectedSha256 !== undefined && signed.manifest.sha256 !== expectedSha256) {
    throw new VerificationError(`manifest is about ${signed.manifest.sha256}, not ${expectedSha256}`);
  }
  return signed.manifest;
}

/**
 * Checks a file against a verified manifest: its size, each chunk's SHA-256 (a device writing to
 * flash can check each chunk before writing it) and the whole file's SHA-256.
 */
export async function verifyFile(manifest: Manifest, path: string): Promise<void> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    if (size !== manifest.size) throw new VerificationError(`file has ${size} bytes, the manifest says ${manifest.size}`);
    const whole = createHash('sha256');
    const buffer = Buffer.alloc(manifest.chunkSize);
    for (let index = 0; index < manifest.chunks.length; index++) {
      const { bytesRead } = await file.read(buffer, 0, manifest.chunkSize, index * manifest.chunkSize);
      const chunk = buffer.subarray(0, bytesRead);
      if (createHash('sha256').update(chunk).digest('hex') !== manifest.chunks[index]) throw new VerificationError(`chunk ${index} does not match`);
      whole.update(chunk);
    }
    if (whole.digest('hex') !== manifest.sha256) throw new VerificationError('whole-file SHA-256 does not match');
  } finally {
    await file.close();
  }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...args] = argv;
  if (command === 'pin' && args.length === 2) {
    const keys = await pinKeys(args[0], args[1]);
    console.log(`pinned ${keys.map((key) => key.keyId).join(', ')}`);
    return;
  }
  if (command === 'verify' && args.length === 3) {
    const [manifestUrl, keysFile, firmware] = args;
    const pinned = (JSON.parse(await readFile(keysFile, 'utf8')) as { keys: PinnedKey[] }).keys;
    const response = await fetch(manifestUrl);
    if (!response.ok) throw new VerificationError(`GET ${manifestUrl} answered ${response.status}`);
    const expected = /\/manifests\/([0-9a-f]{64})$/.exec(manifestUrl)?.[1];
    const manifest = verifySignedManifest((await response.json()) as { manifest: Manifest; signature: string }, pinned, expected);
    await verifyFile(manifest, firmware);
    console.log(`verified ${manifest.component} ${manifest.version} (${manifest.size} bytes, ${manifest.chunks.length} chunks, key ${manifest.keyId})`);
    return;
  }
  throw new VerificationError('usage: verify-manifest.mts pin <appliance-url> <keys.json> | verify <manifest-url> <keys.json> <file>');
}

if (import.meta.main) {
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(`NOT verified: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
}
