import type { Manifest } from '@app/manifest';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { until } from '@test/support/wait';
import { makeArtifact, makeKey, type TestArtifact } from '@peer-agent/test-support/fixtures';
import { SitePeers } from '../discovery/site-peers';
import { silentLogger } from '../logging/logger';
import { AgentMetrics } from '../metrics/agent-metrics';
import type { ChunkReply, ChunkRequest } from '../p2p/chunk-protocol';
import { ChunkStore } from '../store/chunk-store';
import { ChunkFetcher, ChunkUnavailableError, type ChunkOrigin } from './chunk-fetcher';
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

/** An origin that answers ranges of chunks, like the real client; `breakAfter`/`corrupt` script faults per request. */
class RangeOrigin extends FakeOrigin {
  ranges: Array<[number, number]> = [];
  faults: Array<{ breakAfter?: number; corrupt?: number }> = [];
  constructor(private readonly source: TestArtifact) {
    super(source);
  }
  async getChunks(_m: Manifest, first: number, last: number, onChunk: (index: number, data: Uint8Array) => void): Promise<void> {
    this.ranges.push([first, last]);
    const fault = this.faults.shift() ?? {};
    await this.gate;
    for (let index = first; index <= last; index++) {
      if (fault.breakAfter !== undefined && index > first + fault.breakAfter - 1) throw new Error('connection reset');
      const data = Buffer.from(this.source.chunk(index));
      if (index === fault.corrupt) data[0] ^= 0xff;
      onChunk(index, data);
    }
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
    expect(await until(async () => store.hasChunk(artifact.manifest.sha256, 3), Boolean, 5000, 0)).toBe(true);
    await fetcher.getChunk(artifact.manifest, 3);
    await fetcher.getChunk(artifact.manifest, 4);
    expect(await counter(metrics, 'bytesBySource', 'origin')).toBe(2048);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(0);
    // A later download of the same chunks is served from the cache.
    await fetcher.getChunk(artifact.manifest, 3);
    await fetcher.getChunk(artifact.manifest, 4);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(2048);
  });

  it('answers its device and its peers from memory what it verified moments ago, without reading the disk again', async () => {
    const transport = new FakeTransport({});
    const fetcher = new ChunkFetcher({ store, origin, metrics, log, peers, transport });
    const index = chunkRankedAs('self');
    await fetcher.getChunk(artifact.manifest, index);
    const read = jest.spyOn(store, 'readChunk');
    const forPeer = await fetcher.chunkForPeer(artifact.manifest, { op: 'chunk', sha256: artifact.manifest.sha256, index, fetch: false });
    expect(Buffer.from(forPeer!)).toEqual(artifact.chunk(index));
    expect(Buffer.from(await fetcher.getChunk(artifact.manifest, index))).toEqual(artifact.chunk(index));
    expect(read).not.toHaveBeenCalled();
    expect(origin.calls).toEqual([index]);
    expect(await counter(metrics, 'bytesBySource', 'cache')).toBe(2048);
  });

  it('still re-verifies what it reads from disk: a chunk that went bad there is fetched again', async () => {
    const first = new ChunkFetcher({ store, origin, metrics, log });
    await first.getChunk(artifact.manifest, 7);
    const file = join(dir, 'artifacts', artifact.manifest.sha256, '7.chunk');
    const bytes = await readFile(file);
    bytes[10] ^= 0x01;
    await writeFile(file, bytes);
    // A new fetcher (as after a restart) has nothing in memory.
    const second = new ChunkFetcher({ store, origin, metrics, log });
    expect(Buffer.from(await second.getChunk(artifact.manifest, 7))).toEqual(artifact.chunk(7));
    expect(await counter(metrics, 'badChunks', 'cache')).toBe(1);
    expect(origin.calls).toEqual([7, 7]);
  });

  it('asks the origin for consecutive chunks wanted together (a read-ahead) in one range request', async () => {
    const ranged = new RangeOrigin(artifact);
    const fetcher = new ChunkFetcher({ store, origin: ranged, metrics, log }, { originRunBytes: 4 * 1024 });
    for (const index of [3, 4, 5, 6, 7, 8, 20]) fetcher.prefetch(artifact.manifest, index);
    const got = await Promise.all([3, 4, 5, 6, 7, 8, 20].map((i) => fetcher.getChunk(artifact.manifest, i)));
    got.forEach((data, k) => expect(Buffer.from(data)).toEqual(artifact.chunk([3, 4, 5, 6, 7, 8, 20][k])));
    expect(ranged.ranges).toEqual([
      [3, 6],
      [7, 8],
      [20, 20],
    ]);
    expect(await counter(metrics, 'bytesBySource', 'origin')).toBe(7 * 1024);
    for (const i of [3, 8, 20]) expect(store.hasChunk(artifact.manifest.sha256, i)).toBe(true);
  });

  it('asks again for what a broken or corrupted range did not deliver, and never keeps a bad chunk', async () => {
    const ranged = new RangeOrigin(artifact);
    ranged.faults = [{ breakAfter: 2, corrupt: 11 }];
    const fetcher = new ChunkFetcher({ store, origin: ranged, metrics, log });
    for (const index of [10, 11, 12, 13]) fetcher.prefetch(artifact.manifest, index);
    const got = await Promise.all([10, 11, 12, 13].map((i) => fetcher.getChunk(artifact.manifest, i)));
    got.forEach((data, k) => expect(Buffer.from(data)).toEqual(artifact.chunk(10 + k)));
    expect(ranged.ranges).toEqual([
      [10, 13],
      [11, 13],
    ]);
    expect(await counter(metrics, 'badChunks', 'origin')).toBe(1);
    expect(await counter(metrics, 'bytesBySource', 'origin')).toBe(4 * 1024);
  });

  it('gives up on a chunk the origin fails to deliver twice', async () => {
    const ranged = new RangeOrigin(artifact);
    ranged.faults = [{ breakAfter: 0 }, { breakAfter: 0 }];
    const fetcher = new ChunkFetcher({ store, origin: ranged, metrics, log });
    await expect(fetcher.getChunk(artifact.manifest, 30)).rejects.toThrow(ChunkUnavailableError);
    expect(ranged.ranges).toEqual([
      [30, 30],
      [30, 30],
    ]);
  });

  it('refuses a chunk index outside the manifest', async () => {
    const fetcher = new ChunkFetcher({ store, origin, metrics, log });
    await expect(fetcher.getChunk(artifact.manifest, 64)).rejects.toThrow(RangeError);
  });
});
