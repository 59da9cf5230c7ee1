import { chunkLength, type Manifest } from '../manifest/manifest';

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

/** One entry of the origin's site roster. */
export interface RosterPeer {
  peerId: string;
  addrs: string[];
  httpUrl?: string;
  lastSeen?: string;
}

export interface RosterResponse {
  peers: RosterPeer[];
  ttlSeconds: number;
}

const MANIFEST_MAX_BYTES = 8 * 1024 * 1024;
const SMALL_JSON_MAX_BYTES = 1024 * 1024;

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
    const length = chunkLength(manifest, index);
    const start = index * manifest.chunkSize;
    const res = await this.request(`/artifacts/${manifest.sha256}`, {
      headers: { range: `bytes=${start}-${start + length - 1}`, 'accept-encoding': 'identity' },
      signal,
    });
    // A 200 is acceptable only when the range was the whole file; otherwise the origin ignored Range.
    const whole = res.status === 200 && start === 0 && length === manifest.size;
    if (res.status !== 206 && !whole) {
      await res.body?.cancel().catch(() => undefined);
      throw new OriginError(`GET /artifacts/${manifest.sha256} range ${start}+${length}: HTTP ${res.status}`, res.status);
    }
    return readCapped(res, length, signal);
  }

  async getKeys(): Promise<unknown> {
    const res = await this.request('/keys', { headers: { accept: 'application/json' } });
    if (res.status !== 200) {
      await res.body?.cancel();
      throw new OriginError(`GET /keys: HTTP ${res.status}`, res.status);
    }
    return JSON.parse((await readCapped(res, SMALL_JSON_MAX_BYTES)).toString('utf8'));
  }

  async register(body: { site: string; peerId: string; addrs: string[]; httpUrl?: string }): Promise<RosterResponse> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
    if (this.device) headers.authorization = `Bearer ${this.device.token}`;
    const res = await this.request('/peers/register', {
      method: 'POST',
      headers,
      body: JSON.stringify(this.device ? { ...body, deviceId: this.device.id } : body),
    });
    if (res.status !== 200 && res.status !== 201) {
      await res.body?.cancel();
      throw new OriginError(`POST /peers/register: HTTP ${res.status}`, res.status);
    }
    const doc = JSON.parse((await readCapped(res, SMALL_JSON_MAX_BYTES)).toString('utf8')) as Partial<RosterResponse>;
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
