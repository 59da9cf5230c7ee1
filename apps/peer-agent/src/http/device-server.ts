import { chunksHolding, ManifestRejectedError, type Manifest, type SignedManifest } from '@app/manifest';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import type { Logger } from '../logging/logger';
import type { AgentMetrics } from '../metrics/agent-metrics';
import { ArtifactNotFoundError } from '../fetch/manifest-service';
import { OriginError, readCapped } from '../origin/origin-client';
import { decideRange } from './byte-range';
import { deviceBaseUrl, rewritePackageUrls } from './package-rewrite';

/** What the HTTP layer needs to serve artifacts (the agent wires the manifest service, fetcher and store). */
export interface ArtifactSource {
  manifest(sha256: string): Promise<SignedManifest>;
  chunk(manifest: Manifest, index: number): Promise<Uint8Array>;
  prefetch(manifest: Manifest, index: number): void;
  pin(sha256: string): () => void;
  /** True when this manifest's chunks are already known to make up its SHA-256 (a full download need not hash again). */
  isWholeVerified?(manifest: Manifest): boolean;
  /** A full download hashed to the manifest's SHA-256. */
  wholeVerified?(manifest: Manifest): void;
}

export interface PackageOrigin {
  package(search: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response>;
}

export interface DeviceServerDeps {
  artifacts: ArtifactSource;
  packages: PackageOrigin;
  metrics: AgentMetrics;
  log: Logger;
  health: () => Record<string, unknown>;
  publicUrl?: string;
  /**
   * Chunks fetched ahead of the one being sent (parallel downloads from peers). The window is
   * topped up every `readAhead / 2` chunks, so that consecutive chunks are asked for together and
   * can share one origin request.
   */
  readAhead: number;
}

const SHA_PATH = /^\/(artifacts|manifests)\/([0-9a-fA-F]{64})$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
const PACKAGE_JSON_MAX_BYTES = 8 * 1024 * 1024;
const PASS_THROUGH_HEADERS = ['content-type', 'etag', 'cache-control', 'vary', 'retry-after', 'last-modified', 'expires', 'content-disposition', 'location'];

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}

function sendError(res: ServerResponse, error: unknown, log: Logger): void {
  const noStore = { 'cache-control': 'no-store' };
  if (error instanceof ArtifactNotFoundError) return sendJson(res, 404, { error: 'not-found', sha256: error.sha256 }, noStore);
  if (error instanceof ManifestRejectedError) return sendJson(res, 502, { error: 'manifest-rejected', reason: error.reason }, noStore);
  if (error instanceof OriginError) return sendJson(res, 502, { error: 'origin-unavailable' }, noStore);
  log.error({ err: error }, 'request failed');
  sendJson(res, 500, { error: 'internal' }, noStore);
}

/** Resolves when the response can take more bytes, or false when the device went away. */
function drained(res: ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

/**
 * Ends a response that cannot be completed: the bytes already written are flushed, then the
 * connection is closed short of Content-Length, so the device sees an incomplete transfer (and can
 * resume with Range) rather than a file that looks whole.
 */
function cut(res: ServerResponse): void {
  const socket = res.socket;
  if (!socket) return void res.destroy();
  socket.end();
  setTimeout(() => socket.destroy(), 10_000).unref();
}

/**
 * The device-facing HTTP API: the origin's paths (`/artifacts`, `/manifests`, `/package`) served
 * through the site cache, plus `/metrics` and `/healthz`.
 */
export function createDeviceServer(deps: DeviceServerDeps): Server {
  const { log } = deps;

  async function serveArtifact(req: IncomingMessage, res: ServerResponse, sha256: string): Promise<void> {
    const { manifest } = await deps.artifacts.manifest(sha256);
    // The origin's ETag, so a device can resume (If-Range) from another agent or the origin itself.
    // The MD5 form, which devices also know the artifact by, is accepted too.
    const etag = `"${manifest.sha256}"`;
    const etags = [etag, `"${manifest.md5}"`];
    const common = { etag, 'accept-ranges': 'bytes', 'cache-control': IMMUTABLE, 'content-type': 'application/octet-stream' };

    const inm = req.headers['if-none-match'];
    if (inm && inm.split(',').some((t) => etags.includes(t.trim().replace(/^W\//, '')))) {
      res.writeHead(304, { etag, 'cache-control': IMMUTABLE });
      res.end();
      return;
    }
    const ifRangeHeader = req.headers['if-range'];
    const ifRange = Array.isArray(ifRangeHeader) ? ifRangeHeader[0] : ifRangeHeader;
    const decision = decideRange(manifest.size, req.headers.range, ifRange !== undefined && etags.includes(ifRange.trim()) ? etag : ifRange, etag);
    if (decision.kind === 'unsatisfiable') {
      res.writeHead(416, { ...common, 'content-range': `bytes */${manifest.size}`, 'content-length': 0 });
      res.end();
      return;
    }
    const start = decision.kind === 'partial' ? decision.start : 0;
    const end = decision.kind === 'partial' ? decision.end : manifest.size - 1;
    const status = decision.kind === 'partial' ? 206 : 200;
    const headers: Record<string, string | number> = { ...common, 'content-length': end - start + 1 };
    if (decision.kind === 'partial') headers['content-range'] = `bytes ${start}-${end}/${manifest.size}`;

    if (req.method === 'HEAD' || manifest.size === 0) {
      res.writeHead(status, headers);
      res.end();
      return;
    }
    await streamChunks(res, manifest, start, end, status, headers);
  }

  /**
   * Sends bytes start..end in order as soon as each chunk is verified, with the next `readAhead`
   * chunks being fetched in parallel. The first chunk is obtained before the headers go out, so a
   * source that fails up front gives the device a clean error; a failure later cuts the connection
   * (the device sees a short body and can resume with `Range`).
   */
  async function streamChunks(res: ServerResponse, manifest: Manifest, start: number, end: number, status: number, headers: Record<string, string | number>): Promise<void> {
    const release = deps.artifacts.pin(manifest.sha256);
    let gone = false;
    res.once('close', () => (gone = true));
    try {
      const { first, last } = chunksHolding(manifest, start, end);
      const refill = Math.max(1, Math.floor(deps.readAhead / 2));
      /** Asks for chunks `at`..`at + readAhead` (those already there or on their way are skipped). */
      const readAhead = (at: number): void => {
        for (let i = at; i <= Math.min(last, at + deps.readAhead); i++) deps.artifacts.prefetch(manifest, i);
      };
      readAhead(first);
      // A full download is also checked against the whole file's SHA-256 before it is completed,
      // until one such check has shown that this manifest's chunk hashes make up that SHA-256:
      // from then on every chunk matching its hash is proof enough.
      const full = start === 0 && end === manifest.size - 1;
      const whole = full && !deps.artifacts.isWholeVerified?.(manifest) ? createHash('sha256') : undefined;
      let data = await deps.artifacts.chunk(manifest, first);
      res.writeHead(status, headers);
      for (let i = first; i <= last; i++) {
        if (i > first) data = await deps.artifacts.chunk(manifest, i);
        if (i > first && (i - first) % refill === 0) readAhead(i);
        const offset = i * manifest.chunkSize;
        const slice = data.subarray(Math.max(0, start - offset), Math.min(data.byteLength, end - offset + 1));
        whole?.update(slice);
        if (gone) return;
        // The last chunk is held back until the whole file checks out: sent first, it would give the
        // device every byte of Content-Length, and a cut after that looks like a complete download.
        if (i === last && whole && whole.digest('hex') !== manifest.sha256) {
          log.error({ sha256: manifest.sha256 }, 'whole-file SHA-256 mismatch after verified chunks: cutting the download');
          cut(res);
          return;
        }
        deps.metrics.bytesServed.inc({ to: 'device' }, slice.byteLength);
        if (!res.write(slice) && !(await drained(res))) return;
      }
      if (whole) deps.artifacts.wholeVerified?.(manifest);
      res.end();
    } catch (error) {
      if (!res.headersSent) throw error;
      log.warn({ sha256: manifest.sha256, err: (error as Error).message }, 'download cut: a chunk could not be obtained');
      cut(res);
    } finally {
      release();
    }
  }

  async function serveManifest(req: IncomingMessage, res: ServerResponse, sha256: string): Promise<void> {
    const signed = await deps.artifacts.manifest(sha256);
    sendJson(res, 200, signed, { 'cache-control': IMMUTABLE });
  }

  async function proxyPackage(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    const forward: Record<string, string> = { 'accept-encoding': 'identity' };
    for (const name of ['if-none-match', 'accept', 'user-agent']) {
      const value = req.headers[name];
      if (typeof value === 'string') forward[name] = value;
    }
    const abort = new AbortController();
    res.once('close', () => abort.abort());
    const upstream = await deps.packages.package(url.search, forward, abort.signal);
    const headers: Record<string, string> = {};
    for (const name of PASS_THROUGH_HEADERS) {
      const value = upstream.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    const isJson = (headers['content-type'] ?? '').includes('json');
    if (upstream.status === 200 && isJson) {
      const raw = await readCapped(upstream, PACKAGE_JSON_MAX_BYTES);
      let body = raw;
      try {
        const base = deviceBaseUrl(deps.publicUrl, req.headers.host, `http://${req.socket.localAddress}:${req.socket.localPort}`);
        body = Buffer.from(JSON.stringify(rewritePackageUrls(JSON.parse(raw.toString('utf8')), base)));
      } catch {
        log.warn('origin /package answer is not valid JSON: passed through unchanged');
      }
      res.writeHead(200, { ...headers, 'content-length': body.byteLength });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    // Full payloads (application/gzip), 304s and errors go through unchanged, streamed.
    const length = upstream.headers.get('content-length');
    if (length !== null) headers['content-length'] = length;
    res.writeHead(upstream.status, headers);
    if (!upstream.body || req.method === 'HEAD') {
      await upstream.body?.cancel().catch(() => undefined);
      res.end();
      return;
    }
    await pipeline(Readable.fromWeb(upstream.body as WebReadableStream<Uint8Array>), res).catch((error: unknown) => {
      log.info({ err: (error as Error).message }, '/package stream ended early');
    });
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://agent.invalid');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendJson(res, 405, { error: 'method-not-allowed' }, { allow: 'GET, HEAD' });
    }
    const match = SHA_PATH.exec(url.pathname);
    if (match) {
      const sha256 = match[2].toLowerCase();
      return match[1] === 'artifacts' ? serveArtifact(req, res, sha256) : serveManifest(req, res, sha256);
    }
    switch (url.pathname) {
      case '/package':
        return proxyPackage(req, res, url);
      case '/metrics': {
        const text = await deps.metrics.registry.metrics();
        res.writeHead(200, { 'content-type': deps.metrics.registry.contentType });
        res.end(text);
        return;
      }
      case '/healthz':
        return sendJson(res, 200, { status: 'ok', ...deps.health() }, { 'cache-control': 'no-store' });
      default:
        return sendJson(res, 404, { error: 'not-found' });
    }
  }

  return createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (res.headersSent) res.destroy(error as Error);
      else sendError(res, error, log);
    });
  });
}
