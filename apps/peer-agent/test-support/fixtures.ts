import type { TestKey } from '@app/manifest/testing/signed-artifacts';
import type { ByteChunk, ByteDuplex } from '../src/p2p/frame-codec';
import { TrustStore, parsePublicKey } from '../src/manifest/trust-store';

export { makeArtifact, makeKey, signManifest, type TestArtifact, type TestKey } from '@app/manifest/testing/signed-artifacts';

/** The agent's trust store holding exactly these keys. */
export function trustStoreOf(...keys: TestKey[]): TrustStore {
  return new TrustStore(keys.map((k) => parsePublicKey(k.publicKeyBase64)));
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
