import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import type { ByteChunk, ByteDuplex } from '../src/p2p/frame-codec';
import type { Manifest, SignedManifest } from '../src/manifest/manifest';
import { keyIdOf, TrustStore, parsePublicKey } from '../src/manifest/trust-store';

/**
 * RFC 8785 canonical JSON for unit tests only, synchronous. The agent uses the `canonicalize`
 * package, which is ESM-only (an `import` condition only, so jest's require() cannot load it); for
 * the values in these tests (objects, arrays, strings, integers) sorted-key JSON.stringify is the
 * same serialization. Integration tests run the real package on both sides (appliance and agent).
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value);
}

export interface TestKey {
  keyId: string;
  publicKeyBase64: string;
  publicKeyPem: string;
  privateKey: KeyObject;
}

export function makeKey(): TestKey {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
  return { keyId: keyIdOf(raw), publicKeyBase64: raw.toString('base64'), publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(), privateKey };
}

export function trustStoreOf(...keys: TestKey[]): TrustStore {
  return new TrustStore(keys.map((k) => parsePublicKey(k.publicKeyBase64)));
}

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
    chunks.push(createHash('sha256').update(data.subarray(offset, offset + chunkSize)).digest('hex'));
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

/** One end of an in-memory duplex pair with the libp2p v3 stream shape the chunk protocol uses. */
export class MemoryStream implements ByteDuplex {
  peer!: MemoryStream;
  private queue: Uint8Array[] = [];
  private ended = false;
  private failure?: Error;
  private wake?: () => void;
  /** Every byte this end sent, for assertions. */
  readonly sent: Uint8Array[] = [];
  closed = false;

  static pair(): [MemoryStream, MemoryStream] {
    const a = new MemoryStream();
    const b = new MemoryStream();
    a.peer = b;
    b.peer = a;
    return [a, b];
  }

  push(data: Uint8Array): void {
    this.queue.push(data);
    this.wake?.();
  }

  end(error?: Error): void {
    this.ended = true;
    this.failure ??= error;
    this.wake?.();
  }

  send(data: Uint8Array): boolean {
    if (this.closed) throw new Error('send after close');
    const copy = Uint8Array.from(data);
    this.sent.push(copy);
    this.peer.push(copy);
    return true;
  }

  async onDrain(): Promise<void> {}

  async close(): Promise<void> {
    this.closed = true;
    this.peer.end();
  }

  abort(error: Error): void {
    this.closed = true;
    this.end(error);
    this.peer.end(error);
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array | ByteChunk> {
    for (;;) {
      if (this.queue.length > 0) {
        yield this.queue.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
