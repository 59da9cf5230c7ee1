import { chunkLength, chunkMatches, type Manifest } from '@app/manifest';
import type { Logger } from '../logging/logger';
import type { AgentMetrics } from '../metrics/agent-metrics';
import type { SitePeers } from '../discovery/site-peers';
import { ProtocolViolationError, type ChunkRequest } from '../p2p/chunk-protocol';
import type { ChunkStore } from '../store/chunk-store';
import type { PeerTransport } from './peer-transport';
import { Semaphore } from './semaphore';
import { VerifiedChunks } from './verified-chunks';

export interface ChunkOrigin {
  getChunk(manifest: Manifest, index: number): Promise<Uint8Array>;
  /** Chunks `first`..`last` in one request, each handed over as soon as it is in. */
  getChunks?(manifest: Manifest, first: number, last: number, onChunk: (index: number, data: Uint8Array) => void): Promise<void>;
}

/** A chunk waiting for the origin. */
interface OriginWant {
  index: number;
  resolve(data: Uint8Array): void;
  reject(error: Error): void;
}

/** `wants` by index, cut into runs of consecutive chunks of at most `max`. */
function consecutiveRuns(wants: OriginWant[], max: number): OriginWant[][] {
  const runs: OriginWant[][] = [];
  for (const want of [...wants].sort((a, b) => a.index - b.index)) {
    const run = runs.at(-1);
    if (run && run.length < max && run.at(-1)!.index + 1 === want.index) run.push(want);
    else runs.push([want]);
  }
  return runs;
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
  /** Consecutive chunks asked of the origin at once go out as one range request of at most this many bytes. */
  originRunBytes: number;
  /** Verified chunks kept in memory for the next uses (read-ahead → device, peers asking the owner). */
  memoryBytes: number;
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
  // The appliance spends about as much CPU on a 1 MiB range request as on sending 1 MiB: fewer,
  // larger requests roughly halved its cost per byte in a measurement.
  originRunBytes: 8 * 1024 * 1024,
  memoryBytes: 32 * 1024 * 1024,
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
 * Concurrent requests for one chunk on this agent share a single fetch, and chunks verified moments
 * ago are answered from memory (see {@link VerifiedChunks}) instead of being read back and hashed
 * again.
 */
export class ChunkFetcher {
  private readonly inflight = new Map<string, Promise<Uint8Array>>();
  private readonly originInflight = new Map<string, Promise<Uint8Array>>();
  /** Chunks asked of the origin during the current tick, by artifact, to be sent as runs. */
  private readonly originQueue = new Map<string, OriginWant[]>();
  private readonly originSlots: Semaphore;
  private readonly options: FetcherOptions;
  /**
   * Chunks fetched by read-ahead and not yet handed out: when the consumer then finds them on disk,
   * that is not a cache hit (the bytes were already counted as origin or peer bytes).
   */
  private readonly readAhead = new Set<string>();
  private readonly recent: VerifiedChunks;

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
    this.recent = new VerifiedChunks(this.options.memoryBytes);
  }

  /** A verified chunk from memory, or from disk (verified again there), or `undefined`. */
  private async local(manifest: Manifest, index: number, key: string): Promise<Uint8Array | undefined> {
    const recent = this.recent.get(key);
    if (recent) {
      this.deps.store.touch(manifest.sha256);
      return recent;
    }
    const stored = await this.deps.store.readChunk(manifest, index);
    if (stored) this.recent.set(key, stored);
    return stored;
  }

  /** A verified chunk for a local consumer (a device download). */
  async getChunk(manifest: Manifest, index: number): Promise<Uint8Array> {
    this.checkIndex(manifest, index);
    const key = VerifiedChunks.key(manifest.sha256, index);
    const cached = await this.local(manifest, index, key);
    if (cached) {
      if (!this.readAhead.delete(key)) this.deps.metrics.bytesBySource.inc({ source: 'cache' }, cached.byteLength);
      return cached;
    }
    this.readAhead.delete(key);
    return this.fetchOnce(manifest, index, key);
  }

  /** Starts fetching a chunk that will be needed soon (a device's read-ahead); errors surface when it is awaited for real. */
  prefetch(manifest: Manifest, index: number): void {
    const key = VerifiedChunks.key(manifest.sha256, index);
    if (index >= manifest.chunks.length || this.recent.has(key) || this.deps.store.hasChunk(manifest.sha256, index) || this.inflight.has(key)) return;
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
   * Answers a peer. Chunks held (in memory or on disk) are always given; with `fetch: true` (we
   * are the chunk's owner in the asker's view) a missing chunk is fetched from the origin, merged
   * with any fetch of it in progress. Never forwarded to another peer, so two agents with
   * different views of the site cannot wait on each other.
   */
  async chunkForPeer(manifest: Manifest, request: ChunkRequest): Promise<Uint8Array | undefined> {
    if (request.index >= manifest.chunks.length) return undefined;
    const cached = await this.local(manifest, request.index, VerifiedChunks.key(manifest.sha256, request.index));
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
    this.recent.set(VerifiedChunks.key(manifest.sha256, index), reply.data);
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

  /**
   * One origin request per chunk at a time on this agent, however many ask for it. Chunks asked
   * for in the same tick (a device's read-ahead) are gathered, and consecutive ones share a range
   * request.
   */
  private fromOrigin(manifest: Manifest, index: number): Promise<Uint8Array> {
    const key = VerifiedChunks.key(manifest.sha256, index);
    let pending = this.originInflight.get(key);
    if (!pending) {
      const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
      pending = promise.finally(() => this.originInflight.delete(key));
      this.originInflight.set(key, pending);
      let queued = this.originQueue.get(manifest.sha256);
      if (!queued) {
        const wants: OriginWant[] = [];
        queued = wants;
        this.originQueue.set(manifest.sha256, wants);
        queueMicrotask(() => {
          this.originQueue.delete(manifest.sha256);
          this.startOriginRuns(manifest, wants);
        });
      }
      queued.push({ index, resolve, reject });
    }
    return pending;
  }

  private startOriginRuns(manifest: Manifest, wants: OriginWant[]): void {
    const missing: OriginWant[] = [];
    for (const want of wants) {
      // Another path (a peer's request, an earlier fetch) may have stored it since the caller looked.
      if (this.recent.has(VerifiedChunks.key(manifest.sha256, want.index)) || this.deps.store.hasChunk(manifest.sha256, want.index)) {
        void this.localElseOrigin(manifest, want);
      } else {
        missing.push(want);
      }
    }
    const maxRun = Math.max(1, Math.floor(this.options.originRunBytes / manifest.chunkSize));
    for (const run of consecutiveRuns(missing, maxRun)) void this.originRun(manifest, run, 1);
  }

  private async localElseOrigin(manifest: Manifest, want: OriginWant): Promise<void> {
    const cached = await this.local(manifest, want.index, VerifiedChunks.key(manifest.sha256, want.index)).catch(() => undefined);
    if (cached) want.resolve(cached);
    else await this.originRun(manifest, [want], 1);
  }

  /**
   * One range request for consecutive chunks; each is verified, kept and stored as soon as it is
   * in, and only then handed to whoever waits for it. What did not arrive, or arrived corrupted,
   * is asked again (in runs) until `originAttempts` is used up.
   */
  private async originRun(manifest: Manifest, run: OriginWant[], attempt: number): Promise<void> {
    const { origin, metrics, log } = this.deps;
    const sha256 = manifest.sha256;
    const byIndex = new Map(run.map((want) => [want.index, want]));
    const arrived = new Set<number>();
    const stored: Promise<void>[] = [];
    let failure: Error | undefined;
    const accept = (index: number, data: Uint8Array, started: number): void => {
      const want = byIndex.get(index);
      if (!want || arrived.has(index)) return;
      if (!chunkMatches(manifest, index, data)) {
        metrics.badChunks.inc({ source: 'origin' });
        failure = new ChunkUnavailableError(`origin sent chunk ${index} of ${sha256} that does not match the manifest`);
        return;
      }
      arrived.add(index);
      metrics.bytesBySource.inc({ source: 'origin' }, data.byteLength);
      metrics.chunkFetchSeconds.observe({ source: 'origin' }, (performance.now() - started) / 1000);
      this.recent.set(VerifiedChunks.key(sha256, index), data);
      stored.push(this.store(manifest, index, data).then(() => want.resolve(data)));
    };
    const release = await this.originSlots.acquire();
    const started = performance.now();
    try {
      if (origin.getChunks) {
        await origin.getChunks(manifest, run[0].index, run[run.length - 1].index, (index, data) => accept(index, data, started));
      } else {
        for (const want of run) accept(want.index, await origin.getChunk(manifest, want.index), started);
      }
    } catch (error) {
      failure = error as Error;
    } finally {
      release();
    }
    await Promise.all(stored);
    const left = run.filter((want) => !arrived.has(want.index));
    if (left.length === 0) return;
    const reason = failure?.message ?? 'no answer';
    log.warn({ sha256, first: left[0].index, chunks: left.length, attempt, err: reason }, 'origin chunk fetch failed');
    if (attempt >= this.options.originAttempts) {
      for (const want of left) want.reject(new ChunkUnavailableError(`chunk ${want.index} of ${sha256} is unavailable: ${reason}`));
      return;
    }
    await Promise.all(consecutiveRuns(left, run.length).map((again) => this.originRun(manifest, again, attempt + 1)));
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
