import type { Logger } from '../logging/logger';
import type { AgentMetrics } from '../metrics/agent-metrics';
import type { SitePeers } from '../discovery/site-peers';
import { chunkLength, chunkMatches, type Manifest } from '../manifest/manifest';
import { ProtocolViolationError, type ChunkRequest } from '../p2p/chunk-protocol';
import type { ChunkStore } from '../store/chunk-store';
import type { PeerTransport } from './peer-transport';
import { Semaphore } from './semaphore';

export interface ChunkOrigin {
  getChunk(manifest: Manifest, index: number): Promise<Uint8Array>;
}

export interface FetcherOptions {
  /** How many peers in rendezvous order are asked to fetch for us (the owner, then its runner-up). */
  ownerAttempts: number;
  /** How many further peers are asked "only if you have it" before going to the origin. */
  holderAttempts: number;
  ownerTimeoutMs: number;
  holderTimeoutMs: number;
  /** How long a peer that did not answer is skipped. */
  downMs: number;
  originConcurrency: number;
  originAttempts: number;
}

export const DEFAULT_FETCHER_OPTIONS: FetcherOptions = {
  ownerAttempts: 2,
  holderAttempts: 3,
  // An owner asked for a chunk it lacks first fetches it from the origin: allow for that.
  ownerTimeoutMs: 30_000,
  holderTimeoutMs: 5_000,
  downMs: 15_000,
  originConcurrency: 8,
  originAttempts: 2,
};

/** No source could supply a verified chunk. */
export class ChunkUnavailableError extends Error {
  override readonly name = 'ChunkUnavailableError';
}

/**
 * Gets verified chunks, and is how a site pulls each chunk from the origin about once.
 *
 * Coordination is rendezvous hashing over the live site peers (self included), which every agent
 * computes alike: the top-ranked peer *owns* a chunk. An agent that needs a chunk it does not own
 * asks the owner with `fetch: true`; the owner answers from its cache or fetches the chunk from
 * the origin, merged with any fetch of the same chunk already running there (its own devices, other
 * peers), so N agents asking at once cost the origin one range request. If the owner fails, the
 * runner-up is asked the same way (it is the owner once the first is gone), then a few other peers
 * "only if you have it", then the origin.
 *
 * Each chunk is verified against the signed manifest before it is stored, returned or served; a
 * peer that sends a bad one is banned for the session and the chunk is fetched elsewhere.
 * Concurrent requests for one chunk on this agent share a single fetch.
 */
export class ChunkFetcher {
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private readonly originInflight = new Map<string, Promise<Uint8Array>>();
  private readonly originSlots: Semaphore;
  private readonly options: FetcherOptions;
  /**
   * Chunks fetched by read-ahead and not yet handed out: when the consumer then finds them on disk,
   * that is not a cache hit (the bytes were already counted as origin or peer bytes).
   */
  private readonly readAhead = new Set<string>();

  constructor(
    private readonly deps: {
      store: ChunkStore;
      origin: ChunkOrigin;
      metrics: AgentMetrics;
      log: Logger;
      /** Absent with `--no-p2p`: everything comes from the origin. */
      peers?: SitePeers;
      transport?: PeerTransport;
    },
    options: Partial<FetcherOptions> = {},
  ) {
    this.options = { ...DEFAULT_FETCHER_OPTIONS, ...options };
    this.originSlots = new Semaphore(this.options.originConcurrency);
  }

  /** A verified chunk for a local consumer (a device download). */
  async getChunk(manifest: Manifest, index: number): Promise<Uint8Array> {
    this.checkIndex(manifest, index);
    const key = `${manifest.sha256}:${index}`;
    const cached = await this.deps.store.readChunk(manifest, index);
    if (cached) {
      if (!this.readAhead.delete(key)) this.deps.metrics.bytesBySource.inc({ source: 'cache' }, cached.byteLength);
      return cached;
    }
    this.readAhead.delete(key);
    return this.fetchOnce(manifest, index, key);
  }

  /** Starts fetching a chunk that will be needed soon (a device's read-ahead); errors surface when it is awaited for real. */
  prefetch(manifest: Manifest, index: number): void {
    const key = `${manifest.sha256}:${index}`;
    if (index >= manifest.chunks.length || this.deps.store.hasChunk(manifest.sha256, index) || this.inflight.has(key)) return;
    this.readAhead.add(key);
    // Read-ahead of an abandoned download is never consumed: keep the set bounded.
    if (this.readAhead.size > 10_000) this.readAhead.delete(this.readAhead.values().next().value as string);
    this.fetchOnce(manifest, index, key).catch(() => this.readAhead.delete(key));
  }

  private fetchOnce(manifest: Manifest, index: number, key: string): Promise<Uint8Array> {
    let pending = this.inflight.get(key);
    if (!pending) {
      pending = this.fetchChunk(manifest, index).finally(() => this.inflight.delete(key));
      this.inflight.set(key, pending);
    }
    return pending;
  }

  /**
   * Answers a peer. Chunks on disk are always given; with `fetch: true` (we are the chunk's owner
   * in the asker's view) a missing chunk is fetched from the origin, merged with any fetch of it
   * in progress. Never forwarded to another peer, so two agents with different views of the site
   * cannot wait on each other.
   */
  async chunkForPeer(manifest: Manifest, request: ChunkRequest): Promise<Uint8Array | undefined> {
    if (request.index >= manifest.chunks.length) return undefined;
    const cached = await this.deps.store.readChunk(manifest, request.index);
    if (cached) {
      this.deps.metrics.bytesBySource.inc({ source: 'cache' }, cached.byteLength);
      return cached;
    }
    if (!request.fetch) return undefined;
    const release = this.deps.store.pin(manifest.sha256);
    try {
      return await this.fromOrigin(manifest, request.index);
    } finally {
      release();
    }
  }

  private checkIndex(manifest: Manifest, index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= manifest.chunks.length) {
      throw new RangeError(`chunk ${index} out of range for ${manifest.sha256}`);
    }
  }

  private async fetchChunk(manifest: Manifest, index: number): Promise<Uint8Array> {
    const release = this.deps.store.pin(manifest.sha256);
    try {
      const { peers, transport } = this.deps;
      if (!peers || !transport) return await this.fromOrigin(manifest, index);

      const ranked = peers.rank(manifest.sha256, index);
      const asked = new Set<string>();
      for (const peerId of ranked.slice(0, this.options.ownerAttempts)) {
        if (peerId === peers.selfId) return await this.fromOrigin(manifest, index);
        asked.add(peerId);
        const data = await this.fromPeer(peerId, manifest, index, true);
        if (data) return data;
      }
      const holders = ranked.filter((id) => id !== peers.selfId && !asked.has(id)).slice(0, this.options.holderAttempts);
      for (const peerId of holders) {
        const data = await this.fromPeer(peerId, manifest, index, false);
        if (data) return data;
      }
      return await this.fromOrigin(manifest, index);
    } finally {
      release();
    }
  }

  private async fromPeer(peerId: string, manifest: Manifest, index: number, fetch: boolean): Promise<Uint8Array | undefined> {
    const { peers, transport, metrics, log } = this.deps;
    if (!peers || !transport || peers.isBanned(peerId)) return undefined;
    const started = performance.now();
    const request: ChunkRequest = { op: 'chunk', sha256: manifest.sha256, index, fetch };
    const timeout = fetch ? this.options.ownerTimeoutMs : this.options.holderTimeoutMs;
    let reply;
    try {
      reply = await transport.requestChunk(peerId, request, chunkLength(manifest, index), timeout);
    } catch (error) {
      if (error instanceof ProtocolViolationError) {
        this.ban(peerId, manifest, index, error.message);
      } else {
        peers.markDown(peerId, this.options.downMs);
        log.info({ peerId, sha256: manifest.sha256, index, err: (error as Error).message }, 'peer did not answer: skipping it for a while');
      }
      return undefined;
    }
    if (reply.kind === 'miss') {
      log.debug({ peerId, index, fetch, reason: reply.reason }, 'peer miss');
      return undefined;
    }
    if (!chunkMatches(manifest, index, reply.data)) {
      metrics.badChunks.inc({ source: 'peer' });
      this.ban(peerId, manifest, index, 'chunk does not match the manifest');
      return undefined;
    }
    metrics.bytesBySource.inc({ source: 'peer' }, reply.data.byteLength);
    metrics.chunkFetchSeconds.observe({ source: 'peer' }, (performance.now() - started) / 1000);
    await this.store(manifest, index, reply.data);
    return reply.data;
  }

  private ban(peerId: string, manifest: Manifest, index: number, reason: string): void {
    const { peers, transport, metrics, log } = this.deps;
    if (!peers?.ban(peerId)) return;
    metrics.peersBannedTotal.inc();
    log.warn({ peerId, sha256: manifest.sha256, index, reason }, 'peer banned for this session');
    transport?.disconnect(peerId);
  }

  /** One origin range request per chunk at a time on this agent, however many ask for it. */
  private fromOrigin(manifest: Manifest, index: number): Promise<Uint8Array> {
    const key = `${manifest.sha256}:${index}`;
    let pending = this.originInflight.get(key);
    if (!pending) {
      pending = this.rangeFromOrigin(manifest, index).finally(() => this.originInflight.delete(key));
      this.originInflight.set(key, pending);
    }
    return pending;
  }

  private async rangeFromOrigin(manifest: Manifest, index: number): Promise<Uint8Array> {
    const { store, origin, metrics, log } = this.deps;
    // Another path (a peer's request, an earlier fetch) may have stored it since the caller looked.
    const cached = await store.readChunk(manifest, index);
    if (cached) return cached;
    let lastError: Error = new ChunkUnavailableError('no attempt made');
    for (let attempt = 1; attempt <= this.options.originAttempts; attempt++) {
      const release = await this.originSlots.acquire();
      const started = performance.now();
      try {
        const data = await origin.getChunk(manifest, index);
        if (!chunkMatches(manifest, index, data)) {
          metrics.badChunks.inc({ source: 'origin' });
          throw new ChunkUnavailableError(`origin sent chunk ${index} of ${manifest.sha256} that does not match the manifest`);
        }
        metrics.bytesBySource.inc({ source: 'origin' }, data.byteLength);
        metrics.chunkFetchSeconds.observe({ source: 'origin' }, (performance.now() - started) / 1000);
        await this.store(manifest, index, data);
        return data;
      } catch (error) {
        lastError = error as Error;
        log.warn({ sha256: manifest.sha256, index, attempt, err: lastError.message }, 'origin chunk fetch failed');
      } finally {
        release();
      }
    }
    throw new ChunkUnavailableError(`chunk ${index} of ${manifest.sha256} is unavailable: ${lastError.message}`);
  }

  /** Storing is best effort: a full disk must not fail a download whose bytes are verified. */
  private async store(manifest: Manifest, index: number, data: Uint8Array): Promise<void> {
    try {
      await this.deps.store.writeChunk(manifest, index, data);
    } catch (error) {
      this.deps.log.warn({ sha256: manifest.sha256, index, err: (error as Error).message }, 'could not store chunk');
    }
  }
}
