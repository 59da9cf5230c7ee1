import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeArtifact, makeKey, type TestArtifact } from '../../test-support/fixtures';
import { SitePeers } from '../discovery/site-peers';
import { silentLogger } from '../logging/logger';
import type { Manifest } from '../manifest/manifest';
import { AgentMetrics } from '../metrics/agent-metrics';
import type { ChunkReply, ChunkRequest } from '../p2p/chunk-protocol';
import { ChunkStore } from '../store/chunk-store';
import { ChunkFetcher, type ChunkOrigin } from './chunk-fetcher';
import type { PeerTransport } from './peer-transport';

const key = makeKey();

class FakeOrigin implements ChunkOrigin {
  calls: number[] = [];
  gate?: Promise<void>;
  constructor(private readonly artifact: TestArtifact) {}
  async getChunk(_m: Manifest, index: number): Promise<Uint8Array> {
    this.calls.push(index);
    await this.gate;
    return Buffer.from(this.artifact.chunk(index));
  }
}

type PeerBehaviour = (request: ChunkRequest) => Promise<ChunkReply>;

class FakeTransport implements PeerTransport {
  requests: Array<{ peerId: string } & ChunkRequest> = [];
  disconnected: string[] = [];
  constructor(readonly behaviours: Record<string, PeerBehaviour>) {}
  async requestChunk(peerId: string, request: ChunkRequest): Promise<ChunkReply> {
    this.requests.push({ peerId, ...request });
    const behaviour = this.behaviours[peerId];
    if (!behaviour) throw new Error('connection refused');
    return behaviour(request);
  }
  async requestManifest(): Promise<unknown> {
    return undefined;
  }
  disconnect(peerId: string): void {
    this.disconnected.push(peerId);
  }
}

async function counter(metrics: AgentMetrics, name: 'bytesBySource' | 'badChunks', source: string): Promise<number> {
  return (await metrics[name].get()).values.find((v) => v.labels.source === source)?.value ?? 0;
}

describe(ChunkFetcher.name, () => {
  let dir: string;
  let store: ChunkStore;
  let metrics: AgentMetrics;
  let artifact: TestArtifact;
  let origin: FakeOrigin;
  let peers: SitePeers;
  const log = silentLogger();

  /** The first chunk index whose rendezvous ranking starts with `order`. */
  const chunkRankedAs = (...order: string[]): number => {
    for (let i = 0; i < artifact.manifest.chunks.length; i++) {
      if (order.every((id, k) => peers.rank(artifact.manifest.sha256, i)[k] === id)) return i;
    }
    throw new Error(`no chunk ranked ${order.join(',')}`);
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fetcher-'));
    metrics = new AgentMetrics();
    store = await ChunkStore.open(dir, 1024 ** 3, metrics, log);
    artifact = makeArtifact(64 * 1024, 1024, key); // 64 chunks: every ranking order occurs
    await store.writeManifest(artifact.signed);
    origin = new FakeOrigin(artifact);
    peers = new SitePeers('self');
    peers.upsert('b', [], 60_000, 'roster');
    peers.upsert('c', [], 60_000, 'roster');
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('merges concurrent requests for one chunk into a single origin fetch', async () => {
    const fetcher = new ChunkFetcher({ store, origin, metrics, log });
    let open!: () => void;
    origin.gate = new Promise((r) => (open = r));
    const all = Promise.all([1, 2, 3, 4].map(() => fetcher.getChunk(artifact.manifest, 5)));
    open();
    for (const data of await all) expect(Buffer.from(data)).toEqual(artifact.chunk(5));
    expect(origin.calls).toEqual([5]);
    // Next time it comes from disk.
    await fetcher.getChunk(artifact.manifest, 5);
    expect(origin.calls).toEqual([5]);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(1024);
  });

  it("asks the chunk's owner to fetch it, and leaves the origin alone", async () => {
    const transport = new FakeTransport({ b: async (r) => ({ kind: 'hit', data: artifact.chunk(r.index) }) });
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    const index = chunkRankedAs('b');
    expect(Buffer.from(await fetcher.getChunk(artifact.manifest, index))).toEqual(artifact.chunk(index));
    expect(transport.requests).toEqual([{ peerId: 'b', op: 'chunk', sha256: artifact.manifest.sha256, index, fetch: true }]);
    expect(origin.calls).toEqual([]);
    expect(await counter(metrics, 'bytesBySource', 'peer')).toBe(1024);
  });

  it('fetches from the origin itself the chunks it owns', async () => {
    const transport = new FakeTransport({});
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    const index = chunkRankedAs('self');
    await fetcher.getChunk(artifact.manifest, index);
    expect(transport.requests).toEqual([]);
    expect(origin.calls).toEqual([index]);
  });

  it('bans a peer that sends a bad chunk, never keeps the bad bytes, and gets the chunk from the runner-up', async () => {
    const transport = new FakeTransport({
      b: async (r) => {
        const bad = Buffer.from(artifact.chunk(r.index));
        bad[0] ^= 0xff;
        return { kind: 'hit', data: bad };
      },
      c: async (r) => ({ kind: 'hit', data: artifact.chunk(r.index) }),
    });
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    const index = chunkRankedAs('b', 'c');
    expect(Buffer.from(await fetcher.getChunk(artifact.manifest, index))).toEqual(artifact.chunk(index));
    expect(transport.requests.map((r) => [r.peerId, r.fetch])).toEqual([
      ['b', true],
      ['c', true],
    ]);
    expect(peers.isBanned('b')).toBe(true);
    expect(transport.disconnected).toEqual(['b']);
    expect(await counter(metrics, 'badChunks', 'peer')).toBe(1);
    expect((await metrics.peersBannedTotal.get()).values[0].value).toBe(1);
    expect(Buffer.from((await store.readChunk(artifact.manifest, index))!)).toEqual(artifact.chunk(index));

    // A banned peer is not asked again, even for chunks it owns.
    transport.requests = [];
    const other = (() => {
      for (let i = 0; i < 64; i++) if (i !== index && peers.rank(artifact.manifest.sha256, i)[0] === 'c') return i;
      throw new Error('none');
    })();
    await fetcher.getChunk(artifact.manifest, other);
    expect(transport.requests.every((r) => r.peerId !== 'b')).toBe(true);
  });

  it('skips an owner that does not answer, then asks holders, then the origin', async () => {
    const transport = new FakeTransport({ c: async () => ({ kind: 'miss' }) }); // b refuses connections
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    const index = chunkRankedAs('b', 'c', 'self');
    expect(Buffer.from(await fetcher.getChunk(artifact.manifest, index))).toEqual(artifact.chunk(index));
    expect(transport.requests.map((r) => [r.peerId, r.fetch])).toEqual([
      ['b', true],
      ['c', true],
    ]);
    expect(origin.calls).toEqual([index]);
    expect(peers.live()).toEqual(['c']); // b is skipped for a while
  });

  it("answers a peer from disk, and fetches for it only when asked as the chunk's owner", async () => {
    const transport = new FakeTransport({});
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    expect(await fetcher.chunkForPeer(artifact.manifest, { op: 'chunk', sha256: artifact.manifest.sha256, index: 9, fetch: false })).toBeUndefined();
    expect(origin.calls).toEqual([]);

    // Our own device and a peer want chunk 9 at once: one origin request between them.
    let open!: () => void;
    origin.gate = new Promise((r) => (open = r));
    const index = chunkRankedAs('self');
    const mine = fetcher.getChunk(artifact.manifest, index);
    const theirs = fetcher.chunkForPeer(artifact.manifest, { op: 'chunk', sha256: artifact.manifest.sha256, index, fetch: true });
    open();
    expect(Buffer.from(await mine)).toEqual(artifact.chunk(index));
    expect(Buffer.from((await theirs)!)).toEqual(artifact.chunk(index));
    expect(origin.calls).toEqual([index]);
    // Never forwarded to another peer, so two agents with different views cannot wait on each other.
    expect(transport.requests).toEqual([]);
  });

  it('does not count read-ahead chunks as cache hits when the download reaches them', async () => {
    const fetcher = new ChunkFetcher({ store, origin, metrics, log });
    fetcher.prefetch(artifact.manifest, 3); // will be on disk when the download gets there
    fetcher.prefetch(artifact.manifest, 4); // may still be in flight when the download gets there
    while (!store.hasChunk(artifact.manifest.sha256, 3)) await new Promise((r) => setImmediate(r));
    await fetcher.getChunk(artifact.manifest, 3);
    await fetcher.getChunk(artifact.manifest, 4);
    expect(await counter(metrics, 'bytesBySource', 'origin')).toBe(2048);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(0);
    // A later download of the same chunks is served from the cache.
    await fetcher.getChunk(artifact.manifest, 3);
    await fetcher.getChunk(artifact.manifest, 4);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(2048);
  });

  it('refuses a chunk index outside the manifest', async () => {
    const fetcher = new ChunkFetcher({ store, origin, metrics, log });
    await expect(fetcher.getChunk(artifact.manifest, 64)).rejects.toThrow(RangeError);
  });
});
