import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { insufficientStorage, payloadTooLarge } from '../common/domain-error';
import { formatBytes } from '../storage/storage-space';

export interface Digest {
  sha256: string;
  md5: string;
  size: number;
  chunkSize: number;
  /** SHA-256 of each chunkSize slice of the content, in order (the last may be short). */
  chunks: string[];
}

/**
 * Passes bytes through while computing what an artifact is known by: SHA-256, MD5, size and the
 * SHA-256 of every chunk (for the signed manifest). Fails with PayloadTooLarge past `maxBytes`,
 * so an oversized upload stops as soon as it crosses the limit, and with InsufficientStorage past
 * `roomBytes`, the space the store may still fill.
 */
export class DigestStream extends Transform {
  private readonly sha256 = createHash('sha256');
  private readonly md5 = createHash('md5');
  private chunkHash: Hash = createHash('sha256');
  private chunkFill = 0;
  private readonly chunkHashes: string[] = [];
  private size = 0;
  private result?: Digest;

  constructor(
    private readonly maxBytes: number,
    private readonly chunkSize: number,
    private readonly roomBytes = Infinity,
  ) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.size += data.length;
    if (this.size > this.maxBytes) {
      callback(payloadTooLarge(`upload is larger than MAX_UPLOAD_BYTES (${this.maxBytes} bytes)`));
      return;
    }
    if (this.size > this.roomBytes) {
      callback(insufficientStorage(`the upload outgrew the ${formatBytes(this.roomBytes)} the store could take above STORAGE_MIN_FREE_BYTES; nothing was stored`));
      return;
    }
    this.sha256.update(data);
    this.md5.update(data);
    let offset = 0;
    while (offset < data.length) {
      const take = Math.min(this.chunkSize - this.chunkFill, data.length - offset);
      this.chunkHash.update(data.subarray(offset, offset + take));
      this.chunkFill += take;
      offset += take;
      if (this.chunkFill === this.chunkSize) this.closeChunk();
    }
    callback(null, data);
  }

  override _flush(callback: TransformCallback): void {
    if (this.chunkFill > 0) this.closeChunk();
    this.result = {
      sha256: this.sha256.digest('hex'),
      md5: this.md5.digest('hex'),
      size: this.size,
      chunkSize: this.chunkSize,
      chunks: this.chunkHashes,
    };
    callback();
  }

  private closeChunk(): void {
    this.chunkHashes.push(this.chunkHash.digest('hex'));
    this.chunkHash = createHash('sha256');
    this.chunkFill = 0;
  }

  /** The digest of everything that passed; only valid once the stream has finished. */
  get digest(): Digest {
    if (!this.result) throw new Error('digest read before the stream finished');
    return this.result;
  }
}
