import { chunkByteRange, chunkLength, type Manifest, type PeerRegistration, type RosterPeer, type RosterResponse } from '@app/manifest';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** The origin could not be reached or answered with an unexpected status. */
export class OriginError extends Error {
  override readonly name = 'OriginError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

const MANIFEST_MAX_BYTES = 8 * 1024 * 1024;
const SMALL_JSON_MAX_BYTES = 1024 * 1024;
const MAX_REDIRECTS = 5;
const REDIRECTS = new Set([301, 302, 303, 307, 308]);

/** How a range request ended: its body was read (200/206), or only its status (and a redirect's target) is known. */
interface RangeAnswer {
  status: number;
  read: boolean;
  location?: string;
}

/**
 * Reads a range response that starts at chunk `first`, copying the bytes straight into one buffer
 * per chunk and handing each over as soon as it is whole.
 */
function readChunks(res: IncomingMessage, manifest: Manifest, first: number, last: number, onChunk: (index: number, data: Buffer) => void): Promise<void> {
  const { start, end } = chunkByteRange(manifest, first, last);
  const expected = end - start;
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      res.destroy();
      reject(error);
    };
    const declared = Number(res.headers['content-length'] ?? NaN);
    if (Number.isFinite(declared) && declared !== expected) return fail(new Error(`response of ${declared} bytes for a range of ${expected}`));
    let index = first;
    let chunk = Buffer.allocUnsafe(chunkLength(manifest, index));
    let filled = 0;
    res.on('data', (data: Buffer) => {
      for (let offset = 0; offset < data.byteLength;) {
        if (index > last) return fail(new Error(`response exceeds ${expected} bytes`));
        const n = Math.min(chunk.byteLength - filled, data.byteLength - offset);
        data.copy(chunk, filled, offset, offset + n);
        filled += n;
        offset += n;
        if (filled < chunk.byteLength) continue;
        try {
          onChunk(index, chunk);
        } catch (error) {
          return fail(error as Error);
        }
        index++;
        if (index <= last) {
          chunk = Buffer.allocUnsafe(chunkLength(manifest, index));
          filled = 0;
        }
      }
    });
    res.on('end', () => (index > last ? resolve() : reject(new Error(`response ended after ${index - first} of ${last - first + 1} chunks`))));
    res.on('error', reject);
    // Settles nothing after 'end'; catches a connection that closed mid-body without an error.
    res.on('close', () => reject(new Error('response closed before its end')));
  });
}

/**
 * Reads a response body into memory, refusing more than `max` bytes (used for chunks and small
 * JSON documents only; whole artifacts are never buffered).
 */
export async function readCapped(res: Response, max: number, signal?: AbortSignal): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => undefined);
    throw new OriginError(`response of ${declared} bytes exceeds ${max}`);
  }
  const parts: Uint8Array[] = [];
  let total = 0;
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      if (signal?.aborted) {
        await reader.cancel().catch(() => undefined);
        throw new OriginError('aborted');
      }
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > max) {
        await reader.cancel().catch(() => undefined);
        throw new OriginError(`response exceeds ${max} bytes`);
      }
      parts.push(value);
    }
  }
  return Buffer.concat(parts, total);
}

/**
 * The origin's HTTP contract, as the agent uses it: signed manifests, artifact ranges, public
 * keys, the site roster and the `/package` endpoint (proxied for devices).
 */
export class OriginClient {
  /**
   * Chunk ranges go through node:http with kept-alive connections rather than fetch(): a profile of
   * an agent pulling from the origin showed fetch's web streams and the copies into one buffer
   * costing about a third more CPU per byte than reading the socket straight into the chunk.
   */
  private readonly rangeAgents = { http: new HttpAgent({ keepAlive: true, scheduling: 'lifo' }), https: new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }) };

  constructor(
    readonly baseUrl: string,
    private readonly timeoutMs = 30_000,
    /** The agent as a registered device (origins with DEVICE_AUTH=token require it to register in the roster). */
    private readonly device?: { id: string; token: string },
  ) {}

  private signal(extra?: AbortSignal): AbortSignal {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    return extra ? AbortSignal.any([timeout, extra]) : timeout;
  }

  private async request(path: string, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(`${this.baseUrl}${path}`, { ...init, signal: this.signal(init.signal ?? undefined) });
    } catch (error) {
      throw new OriginError(`${init.method ?? 'GET'} ${path}: ${(error as Error).message}`);
    }
  }

  /** The signed manifest as JSON (unverified), or `undefined` when the origin does not know the artifact. */
  async getManifest(sha256: string): Promise<unknown> {
    const res = await this.request(`/manifests/${sha256}`, { headers: { accept: 'application/json' } });
    if (res.status === 404) {
      await res.body?.cancel();
      return undefined;
    }
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new OriginError(`GET /manifests/${sha256}: HTTP ${res.status}`, res.status);
    }
    const body = await readCapped(res, MANIFEST_MAX_BYTES);
    try {
      return JSON.parse(body.toString('utf8'));
    } catch {
      throw new OriginError(`GET /manifests/${sha256}: not JSON`);
    }
  }

  /** Chunk `index` by `Range` (unverified: the caller checks it against the manifest). */
  async getChunk(manifest: Manifest, index: number, signal?: AbortSignal): Promise<Buffer> {
    let chunk: Buffer | undefined;
    await this.getChunks(manifest, index, index, (_, data) => (chunk = data), signal);
    return chunk!;
  }

  /**
   * Chunks `first`..`last` by one `Range` request, each handed to `onChunk` as soon as its bytes
   * are in (unverified: the caller checks them against the manifest). Throws when the origin
   * refuses, redirects too often, or sends less or more than the range; chunks handed over before
   * that are whole.
   */
  async getChunks(manifest: Manifest, first: number, last: number, onChunk: (index: number, data: Buffer) => void, signal?: AbortSignal): Promise<void> {
    const { start, end } = chunkByteRange(manifest, first, last);
    const path = `/artifacts/${manifest.sha256}`;
    const what = `GET ${path} range ${start}+${end - start}`;
    // A 200 is acceptable only when the range was the whole file; otherwise the origin ignored Range.
    const whole = start === 0 && end === manifest.size;
    const deadline = this.signal(signal);
    let url = new URL(`${this.baseUrl}${path}`);
    for (let redirects = 0; ; redirects++) {
      let answer: RangeAnswer;
      try {
        answer = await this.rangeRequest(url, `bytes=${start}-${end - 1}`, whole, deadline, (res) => readChunks(res, manifest, first, last, onChunk));
      } catch (error) {
        throw new OriginError(`${what}: ${(error as Error).message}`);
      }
      if (answer.read) return;
      if (answer.location === undefined || redirects >= MAX_REDIRECTS) throw new OriginError(`${what}: HTTP ${answer.status}`, answer.status);
      url = new URL(answer.location, url);
    }
  }

  /** One GET with `Range`: the body of a 206 (or of a 200 when `whole`) goes to `read`, anything else is only reported. */
  private rangeRequest(url: URL, range: string, whole: boolean, signal: AbortSignal, read: (res: IncomingMessage) => Promise<void>): Promise<RangeAnswer> {
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, { agent: https ? this.rangeAgents.https : this.rangeAgents.http, headers: { range, 'accept-encoding': 'identity' }, signal }, (res) => {
        const status = res.statusCode ?? 0;
        if (status === 206 || (status === 200 && whole)) {
          read(res).then(() => resolve({ status, read: true }), reject);
          return;
        }
        res.resume();
        resolve({ status, read: false, location: REDIRECTS.has(status) ? res.headers.location : undefined });
      });
      req.on('error', reject);
      req.end();
    });
  }

  async getKeys(): Promise<unknown> {
    const res = await this.request('/keys', { headers: { accept: 'application/json' } });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new OriginError(`GET /keys: HTTP ${res.status}`, res.status);
    }
    return JSON.parse((await readCapped(res, SMALL_JSON_MAX_BYTES)).toString('utf8'));
  }

  async register(body: Omit<PeerRegistration, 'deviceId'>): Promise<RosterResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.device) headers.authorization = `Bearer ${this.device.token}`;
    const res = await this.request('/peers/register', {
      method: 'POST',
      headers,
      body: JSON.stringify(this.device ? { ...body, deviceId: this.device.id } : body),
    });
    if (res.status !== 200 && res.status !== 201) {
      // The appliance says why it refused (a peer id bound to another device, another site): log its words.
      const reason = await readCapped(res, SMALL_JSON_MAX_BYTES)
        .then((body) => (JSON.parse(body.toString('utf8')) as { message?: unknown }).message)
        .catch(() => undefined);
      const detail = typeof reason === 'string' ? `: ${reason.slice(0, 300)}` : '';
      throw new OriginError(`POST /peers/register: HTTP ${res.status}${detail}`, res.status);
    }
    const doc = JSON.parse((await readCapped(res, SMALL_JSON_MAX_BYTES)).toString('utf8')) as Partial<RosterResponse>;
    // lastSeen is not checked: the agent never reads it.
    const peers = Array.isArray(doc.peers)
      ? doc.peers.filter((p): p is RosterPeer => typeof p?.peerId === 'string' && Array.isArray(p.addrs) && p.addrs.every((a) => typeof a === 'string'))
      : [];
    const ttlSeconds = typeof doc.ttlSeconds === 'number' && doc.ttlSeconds > 0 ? doc.ttlSeconds : 60;
    return { peers, ttlSeconds };
  }

  /**
   * Forwards a device's `/package` request. The body is returned as a stream (a full payload is a
   * tar.gz that may be large); `signal` aborts it when the device goes away.
   */
  async package(search: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
    // Only the wait for the response headers is bounded: a tar.gz of binaries may take long to
    // stream (undici's idle timeouts still apply to the body).
    const controller = new AbortController();
    const abort = (): void => controller.abort();
    signal.addEventListener('abort', abort, { once: true });
    const headersTimer = setTimeout(abort, this.timeoutMs);
    try {
      return await fetch(`${this.baseUrl}/package${search}`, { headers, signal: controller.signal, redirect: 'manual' });
    } catch (error) {
      throw new OriginError(`GET /package: ${(error as Error).message}`);
    } finally {
      clearTimeout(headersTimer);
    }
  }
}
