/**
 * Length-prefixed frames over a byte stream: a 4-byte big-endian length, then that many bytes.
 *
 * Written against a minimal duplex shape (libp2p v3's `Stream` satisfies it) so that it can be
 * tested without libp2p. The reader always takes an explicit maximum frame size: a peer can never
 * make us allocate more than that, and every wait for bytes has a timeout.
 */

/**
 * What a libp2p v3 stream yields: a Uint8Array or a Uint8ArrayList, which has `subarray()` (its
 * bytes copied into one array) and iterates over its parts.
 */
export interface ByteChunk {
  readonly byteLength: number;
  subarray(): Uint8Array;
  [Symbol.iterator]?(): Iterator<Uint8Array>;
}

/** The part of a libp2p v3 `Stream` the chunk protocol uses. */
export interface ByteDuplex extends AsyncIterable<Uint8Array | ByteChunk> {
  send(data: Uint8Array): boolean;
  onDrain(options?: { signal?: AbortSignal }): Promise<void>;
  close(options?: { signal?: AbortSignal }): Promise<void>;
  abort(error: Error): void;
}

export class FrameError extends Error {
  override readonly name = 'FrameError';
  constructor(
    readonly code: 'too-large' | 'timeout' | 'truncated' | 'aborted',
    message: string,
  ) {
    super(message);
  }
}

export const FRAME_HEADER_BYTES = 4;
/**
 * Upload slices under a rate limit: small enough for the limiter to be smooth. 65 507 bytes plus
 * Yamux's 12-byte frame header is exactly Noise's largest message (65 519 bytes of plaintext), so a
 * slice costs one Noise message, never a full one and a tiny one.
 */
export const WRITE_SLICE_BYTES = 65_507;
/**
 * Without a rate limit the first `send()` carries this much (header included): a Yamux stream's
 * initial window, so that the first frame is as large as the peer allows. Every Yamux data frame
 * costs a window update from the receiver, and a small first frame would leave the window cut in
 * small and large pieces for the rest of the transfer.
 */
export const FIRST_SEND_BYTES = 256 * 1024;

/** Something that can delay sending `bytes` (the upload rate limiter). */
export interface SendPacer {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

/** Reads frames one by one from a byte stream. */
export class FrameReader {
  private readonly iterator: AsyncIterator<Uint8Array | ByteChunk>;
  private buffered: Uint8Array[] = [];
  private bufferedBytes = 0;
  private ended = false;

  constructor(
    source: AsyncIterable<Uint8Array | ByteChunk>,
    private readonly idleTimeoutMs: number,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /**
   * The next frame's payload, or `undefined` on a clean end of stream before a new frame.
   * Throws {@link FrameError} when the frame exceeds `maxLength`, the stream ends mid-frame, no
   * bytes arrive for `idleTimeoutMs`, or `signal` aborts.
   */
  async read(maxLength: number, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    if (!(await this.fill(FRAME_HEADER_BYTES, signal))) {
      if (this.bufferedBytes === 0) return undefined;
      throw new FrameError('truncated', 'stream ended inside a frame header');
    }
    const header = this.take(FRAME_HEADER_BYTES);
    const length = new DataView(header.buffer, header.byteOffset, header.byteLength).getUint32(0);
    if (length > maxLength) throw new FrameError('too-large', `frame of ${length} bytes exceeds the maximum of ${maxLength}`);
    if (!(await this.fill(length, signal))) throw new FrameError('truncated', `stream ended inside a ${length}-byte frame`);
    return this.take(length);
  }

  private async fill(bytes: number, signal?: AbortSignal): Promise<boolean> {
    while (this.bufferedBytes < bytes) {
      if (this.ended) return false;
      const result = await this.next(signal);
      if (result.done) {
        this.ended = true;
        return false;
      }
      const value = result.value;
      // The parts of a list are kept as they are: a frame is copied once, in take(), not per read.
      if (value instanceof Uint8Array) this.keep(value);
      else if (value[Symbol.iterator]) for (const part of value as Iterable<Uint8Array>) this.keep(part);
      else this.keep(value.subarray());
    }
    return true;
  }

  private keep(data: Uint8Array): void {
    if (data.byteLength === 0) return;
    this.buffered.push(data);
    this.bufferedBytes += data.byteLength;
  }

  private next(signal?: AbortSignal): Promise<IteratorResult<Uint8Array | ByteChunk>> {
    if (signal?.aborted) return Promise.reject(new FrameError('aborted', 'read aborted'));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        reject(new FrameError('timeout', `no data for ${this.idleTimeoutMs} ms`));
      }, this.idleTimeoutMs);
      const onAbort = (): void => {
        cleanup();
        reject(new FrameError('aborted', 'read aborted'));
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.iterator.next().then(
        (result) => {
          cleanup();
          resolve(result);
        },
        (error: unknown) => {
          cleanup();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
  }

  /** Removes exactly `bytes` from the front of the buffer, copying only when a frame spans reads. */
  private take(bytes: number): Uint8Array {
    if (bytes === 0) return new Uint8Array(0);
    const first = this.buffered[0];
    if (first.byteLength >= bytes) {
      const out = first.subarray(0, bytes);
      if (first.byteLength === bytes) this.buffered.shift();
      else this.buffered[0] = first.subarray(bytes);
      this.bufferedBytes -= bytes;
      return out;
    }
    // Every byte of it is overwritten below.
    const out: Uint8Array = Buffer.allocUnsafe(bytes);
    let offset = 0;
    while (offset < bytes) {
      const head = this.buffered[0];
      const n = Math.min(head.byteLength, bytes - offset);
      out.set(head.subarray(0, n), offset);
      offset += n;
      if (n === head.byteLength) this.buffered.shift();
      else this.buffered[0] = head.subarray(n);
    }
    this.bufferedBytes -= bytes;
    return out;
  }
}

/** Encodes a frame header for a payload of `length` bytes. */
export function frameHeader(length: number): Uint8Array {
  const header = new Uint8Array(FRAME_HEADER_BYTES);
  new DataView(header.buffer).setUint32(0, length);
  return header;
}

/**
 * Writes one frame made of `parts`, respecting the stream's back-pressure and the optional pacer
 * (upload rate limit). A peer that stops reading hits `idleTimeoutMs`.
 *
 * The header and the start of the payload go out together, copied into one buffer (a frame of its
 * own for 4 bytes would cost a Yamux frame, a Noise message and a window update). Under a pacer
 * the rest goes in slices of at most {@link WRITE_SLICE_BYTES}; without one, each part's remainder
 * goes in one `send()`, so that Yamux cuts it into frames as large as the peer's window allows.
 */
export async function writeFrame(
  stream: Pick<ByteDuplex, 'send' | 'onDrain'>,
  parts: Uint8Array[],
  options: { idleTimeoutMs: number; pacer?: SendPacer; signal?: AbortSignal },
): Promise<void> {
  const length = parts.reduce((n, p) => n + p.byteLength, 0);
  const header = frameHeader(length);
  const firstLength = Math.min(options.pacer ? WRITE_SLICE_BYTES : FIRST_SEND_BYTES, FRAME_HEADER_BYTES + length);
  const first = Buffer.allocUnsafe(firstLength);
  first.set(header);
  let filled = FRAME_HEADER_BYTES;
  const rest: Uint8Array[] = [];
  for (const part of parts) {
    const n = Math.min(part.byteLength, firstLength - filled);
    if (n > 0) first.set(part.subarray(0, n), filled);
    filled += n;
    if (n < part.byteLength) rest.push(part.subarray(n));
  }
  await sendPaced(stream, first, options);
  for (const part of rest) {
    if (!options.pacer) {
      await sendPaced(stream, part, options);
      continue;
    }
    for (let offset = 0; offset < part.byteLength; offset += WRITE_SLICE_BYTES) {
      await sendPaced(stream, part.subarray(offset, Math.min(offset + WRITE_SLICE_BYTES, part.byteLength)), options);
    }
  }
}

async function sendPaced(
  stream: Pick<ByteDuplex, 'send' | 'onDrain'>,
  data: Uint8Array,
  options: { idleTimeoutMs: number; pacer?: SendPacer; signal?: AbortSignal },
): Promise<void> {
  if (options.pacer) await options.pacer.take(data.byteLength, options.signal);
  if (stream.send(data)) return;
  const timeout = AbortSignal.timeout(options.idleTimeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  try {
    await stream.onDrain({ signal });
  } catch {
    throw new FrameError(timeout.aborted ? 'timeout' : 'aborted', `peer did not read for ${options.idleTimeoutMs} ms`);
  }
}
