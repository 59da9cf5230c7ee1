import { FrameError, FrameReader, writeFrame, type ByteDuplex, type SendPacer } from './frame-codec';

/**
 * `/ota/chunk/1.0.0`: one request and one response per stream, each a length-prefixed frame.
 *
 * Request: JSON, at most {@link MAX_REQUEST_FRAME} bytes:
 * - `{ "op": "chunk", "sha256", "index", "fetch" }`: chunk `index` of artifact `sha256`. With
 *   `fetch: true` the asked peer is the chunk's owner (rendezvous hashing) and fetches it from the
 *   origin if it does not have it; with `fetch: false` it answers only from what it holds.
 * - `{ "op": "manifest", "sha256" }`: the signed manifest as JSON (the asker verifies it).
 * - `{ "op": "info" }`: `{ site, peerId }`, so that peers found by mDNS or bootstrap are only used
 *   by agents of the same site.
 *
 * Response: one status byte, then the payload (chunk bytes, JSON, or a UTF-8 reason). The asker
 * knows the exact chunk length from the manifest, so it caps the response frame at that + 1.
 */
export const CHUNK_PROTOCOL = '/ota/chunk/1.0.0';

export const MAX_REQUEST_FRAME = 1024;
export const MAX_MANIFEST_FRAME = 8 * 1024 * 1024;
export const MAX_INFO_FRAME = 4096;

export const STATUS = { ok: 0, miss: 1, error: 2 } as const;

export type ChunkRequest = { op: 'chunk'; sha256: string; index: number; fetch: boolean };
export type PeerRequest = ChunkRequest | { op: 'manifest'; sha256: string } | { op: 'info' };

export interface PeerInfo {
  site: string;
  peerId: string;
}

/** The remote peer broke the protocol (oversized or malformed frame): treated like a bad chunk. */
export class ProtocolViolationError extends Error {
  override readonly name = 'ProtocolViolationError';
}

const HEX64 = /^[0-9a-f]{64}$/;

export function encodeRequest(request: PeerRequest): Uint8Array {
  return Buffer.from(JSON.stringify(request), 'utf8');
}

/** Parses and validates a request frame; anything unexpected is a {@link ProtocolViolationError}. */
export function parseRequest(bytes: Uint8Array): PeerRequest {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch {
    throw new ProtocolViolationError('request is not JSON');
  }
  if (typeof value !== 'object' || value === null) throw new ProtocolViolationError('request is not an object');
  const r = value as Record<string, unknown>;
  switch (r.op) {
    case 'info':
      return { op: 'info' };
    case 'manifest':
      if (typeof r.sha256 !== 'string' || !HEX64.test(r.sha256)) throw new ProtocolViolationError('bad sha256');
      return { op: 'manifest', sha256: r.sha256 };
    case 'chunk':
      if (typeof r.sha256 !== 'string' || !HEX64.test(r.sha256)) throw new ProtocolViolationError('bad sha256');
      if (typeof r.index !== 'number' || !Number.isInteger(r.index) || r.index < 0 || r.index > 2 ** 31) {
        throw new ProtocolViolationError('bad index');
      }
      return { op: 'chunk', sha256: r.sha256, index: r.index, fetch: r.fetch === true };
    default:
      throw new ProtocolViolationError('unknown op');
  }
}

/** What answers inbound requests (the fetcher and the manifest service, wired by the agent). */
export interface PeerRequestHandler {
  /** Verified chunk bytes, or `undefined` for a miss. */
  chunk(request: ChunkRequest, remotePeer: string): Promise<Uint8Array | undefined>;
  /** The signed manifest as JSON bytes, or `undefined`. */
  manifest(sha256: string): Promise<Uint8Array | undefined>;
  info(): PeerInfo;
}

export interface ServeOptions {
  idleTimeoutMs: number;
  /** Upload rate limit, applied to chunk payloads. */
  pacer?: SendPacer;
  /** Test-only fault: flip a byte in every chunk sent (see `OTA_TEST_CORRUPT_SERVED_CHUNKS`). */
  corruptChunks?: boolean;
}

export type ServeResult = { op: PeerRequest['op']; result: 'hit' | 'miss' | 'error'; bytes: number };

/** Serves one inbound stream: reads one request, writes one response, closes. */
export async function serveStream(stream: ByteDuplex, remotePeer: string, handler: PeerRequestHandler, options: ServeOptions): Promise<ServeResult> {
  const reader = new FrameReader(stream, options.idleTimeoutMs);
  const frame = await reader.read(MAX_REQUEST_FRAME);
  if (!frame) throw new ProtocolViolationError('stream closed before a request');
  const request = parseRequest(frame);
  const respond = async (status: number, payload: Uint8Array, pace: boolean): Promise<void> => {
    await writeFrame(stream, [Uint8Array.of(status), payload], { idleTimeoutMs: options.idleTimeoutMs, pacer: pace ? options.pacer : undefined });
    await stream.close({ signal: AbortSignal.timeout(options.idleTimeoutMs) });
  };
  try {
    switch (request.op) {
      case 'info': {
        await respond(STATUS.ok, Buffer.from(JSON.stringify(handler.info())), false);
        return { op: 'info', result: 'hit', bytes: 0 };
      }
      case 'manifest': {
        const doc = await handler.manifest(request.sha256);
        if (!doc) {
          await respond(STATUS.miss, new Uint8Array(0), false);
          return { op: 'manifest', result: 'miss', bytes: 0 };
        }
        await respond(STATUS.ok, doc, false);
        return { op: 'manifest', result: 'hit', bytes: 0 };
      }
      case 'chunk': {
        let data = await handler.chunk(request, remotePeer);
        if (!data) {
          await respond(STATUS.miss, new Uint8Array(0), false);
          return { op: 'chunk', result: 'miss', bytes: 0 };
        }
        if (options.corruptChunks && data.byteLength > 0) {
          data = Uint8Array.from(data);
          data[data.byteLength >> 1] ^= 0x01;
        }
        await respond(STATUS.ok, data, true);
        return { op: 'chunk', result: 'hit', bytes: data.byteLength };
      }
    }
  } catch (error) {
    if (error instanceof FrameError) throw error;
    // The handler failed (e.g. the origin is down): tell the asker at once instead of letting it time out.
    await respond(STATUS.error, Buffer.from((error as Error).message.slice(0, 200)), false).catch(() => undefined);
    return { op: request.op, result: 'error', bytes: 0 };
  }
}

export type ChunkReply = { kind: 'hit'; data: Uint8Array } | { kind: 'miss'; reason?: string };

/** Sends one request on a fresh outbound stream and reads the response frame (at most `maxResponse` bytes of payload). */
async function exchange(
  stream: ByteDuplex,
  request: PeerRequest,
  maxResponse: number,
  idleTimeoutMs: number,
  signal?: AbortSignal,
): Promise<{ status: number; payload: Uint8Array }> {
  await writeFrame(stream, [encodeRequest(request)], { idleTimeoutMs, signal });
  const reader = new FrameReader(stream, idleTimeoutMs);
  let frame: Uint8Array | undefined;
  try {
    frame = await reader.read(maxResponse + 1, signal);
  } catch (error) {
    if (error instanceof FrameError && error.code === 'too-large') throw new ProtocolViolationError(error.message);
    throw error;
  }
  if (!frame || frame.byteLength === 0) throw new FrameError('truncated', 'peer closed the stream without answering');
  await stream.close({ signal: AbortSignal.timeout(idleTimeoutMs) }).catch(() => undefined);
  return { status: frame[0], payload: frame.subarray(1) };
}

/** Asks for one chunk. The bytes are NOT verified here: the caller checks them against the manifest. */
export async function requestChunk(stream: ByteDuplex, request: ChunkRequest, expectedLength: number, idleTimeoutMs: number, signal?: AbortSignal): Promise<ChunkReply> {
  const { status, payload } = await exchange(stream, request, expectedLength, idleTimeoutMs, signal);
  if (status === STATUS.ok) return { kind: 'hit', data: payload };
  if (status === STATUS.miss) return { kind: 'miss' };
  if (status === STATUS.error) return { kind: 'miss', reason: Buffer.from(payload).toString('utf8') };
  throw new ProtocolViolationError(`unknown status ${status}`);
}

/** Asks for a signed manifest (JSON, unverified). */
export async function requestManifest(stream: ByteDuplex, sha256: string, idleTimeoutMs: number, signal?: AbortSignal): Promise<unknown> {
  const { status, payload } = await exchange(stream, { op: 'manifest', sha256 }, MAX_MANIFEST_FRAME, idleTimeoutMs, signal);
  if (status !== STATUS.ok) return undefined;
  try {
    return JSON.parse(Buffer.from(payload).toString('utf8'));
  } catch {
    throw new ProtocolViolationError('manifest is not JSON');
  }
}

/** Asks a peer which site it serves. */
export async function requestInfo(stream: ByteDuplex, idleTimeoutMs: number, signal?: AbortSignal): Promise<PeerInfo> {
  const { status, payload } = await exchange(stream, { op: 'info' }, MAX_INFO_FRAME, idleTimeoutMs, signal);
  if (status !== STATUS.ok) throw new ProtocolViolationError('info refused');
  const info = JSON.parse(Buffer.from(payload).toString('utf8')) as Partial<PeerInfo>;
  if (typeof info.site !== 'string' || typeof info.peerId !== 'string') throw new ProtocolViolationError('bad info');
  return { site: info.site, peerId: info.peerId };
}
