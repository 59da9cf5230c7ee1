import { Transform, type TransformCallback } from 'node:stream';

export class PacketTooLargeError extends Error {
  constructor(
    readonly size: number,
    readonly limit: number,
  ) {
    super(`MQTT packet of ${size} bytes is larger than the limit of ${limit} bytes`);
    this.name = 'PacketTooLargeError';
  }
}

/**
 * Passes an MQTT byte stream through unchanged and fails it as soon as a packet header announces
 * more than `limit` bytes, before the broker's parser buffers them: the parser accepts up to 256 MiB.
 * Reads only the fixed header (type byte + variable-length "remaining length", MQTT 3.1.1 §2.2).
 */
export class PacketSizeGuard extends Transform {
  /** Bytes of the current packet's body still to pass; while -1 we are reading a fixed header. */
  private remaining = -1;
  private headerBytes = 0;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly limit: number) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    let offset = 0;
    while (offset < chunk.length) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - offset);
        this.remaining -= take;
        offset += take;
        if (this.remaining === 0) this.remaining = -1;
        continue;
      }
      const byte = chunk[offset++];
      this.headerBytes++;
      if (this.headerBytes === 1) continue; // packet type and flags
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      if (byte & 0x80) {
        if (this.headerBytes > 5) {
          callback(new Error('malformed MQTT remaining length'));
          return;
        }
        continue;
      }
      if (this.length + this.headerBytes > this.limit) {
        callback(new PacketTooLargeError(this.length + this.headerBytes, this.limit));
        return;
      }
      this.remaining = this.length === 0 ? -1 : this.length;
      this.headerBytes = 0;
      this.length = 0;
      this.multiplier = 1;
    }
    callback(null, chunk);
  }
}
