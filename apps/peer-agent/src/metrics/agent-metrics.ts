import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Where a chunk's bytes came from. `cache` is the agent's own disk. */
export type ByteSource = 'origin' | 'peer' | 'cache';

/**
 * The agent's Prometheus metrics, in their own Registry so that several agents (or tests) in one
 * process never share counters.
 */
export class AgentMetrics {
  readonly registry = new Registry();

  /** Chunk bytes obtained, by where they came from (each byte counted once per use). */
  readonly bytesBySource = new Counter({
    name: 'ota_peer_bytes_total',
    help: 'Verified chunk bytes obtained, by source (origin, peer, cache)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly bytesServed = new Counter({
    name: 'ota_peer_served_bytes_total',
    help: 'Bytes sent, to local devices (HTTP) or to site peers (libp2p)',
    labelNames: ['to'] as const,
    registers: [this.registry],
  });

  readonly badChunks = new Counter({
    name: 'ota_peer_bad_chunks_total',
    help: 'Chunks that failed SHA-256 verification, by source; none of them was stored or served',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  readonly peersBannedTotal = new Counter({
    name: 'ota_peer_banned_peers_total',
    help: 'Peers banned for this session after sending a bad chunk',
    registers: [this.registry],
  });

  /** Read at scrape time: peers expire by the clock, not by an event. */
  private peerCounts: () => { known: number; banned: number } = () => ({ known: 0, banned: 0 });

  readonly peersBanned: Gauge = new Gauge({
    name: 'ota_peer_banned_peers',
    help: 'Peers banned for this session',
    registers: [this.registry],
    collect: (): void => this.peersBanned.set(this.peerCounts().banned),
  });

  readonly peersKnown: Gauge = new Gauge({
    name: 'ota_peer_known_peers',
    help: 'Live peers of this site known from the roster, mDNS or bootstrap (self excluded)',
    registers: [this.registry],
    collect: (): void => this.peersKnown.set(this.peerCounts().known),
  });

  readonly chunkFetchSeconds = new Histogram({
    name: 'ota_peer_chunk_fetch_seconds',
    help: 'Time to obtain one verified chunk that was not in the cache, by source',
    labelNames: ['source'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly manifestsRejected = new Counter({
    name: 'ota_peer_manifests_rejected_total',
    help: 'Manifests rejected (bad signature, unknown key, malformed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly peerRequests = new Counter({
    name: 'ota_peer_chunk_requests_total',
    help: 'Inbound /ota/chunk/1.0.0 requests from peers, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly cacheBytes = new Gauge({
    name: 'ota_peer_cache_bytes',
    help: 'Bytes of verified chunks in the cache directory',
    registers: [this.registry],
  });

  readonly evictions = new Counter({
    name: 'ota_peer_cache_evictions_total',
    help: 'Whole artifacts evicted from the cache (least recently used first)',
    registers: [this.registry],
  });

  /** Where the peer gauges read their values from. */
  observePeers(counts: () => { known: number; banned: number }): void {
    this.peerCounts = counts;
  }

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
    // Pre-create the labelled series so that a scrape shows zeros before the first event.
    for (const source of ['origin', 'peer', 'cache']) {
      this.bytesBySource.inc({ source }, 0);
      this.badChunks.inc({ source }, 0);
    }
    for (const to of ['device', 'peer']) this.bytesServed.inc({ to }, 0);
  }
}
