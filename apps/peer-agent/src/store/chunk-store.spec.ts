import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeArtifact, makeKey, type TestArtifact } from '@peer-agent/test-support/fixtures';
import { silentLogger } from '../logging/logger';
import { AgentMetrics } from '../metrics/agent-metrics';
import { ChunkStore } from './chunk-store';

const key = makeKey();

async function storeAll(store: ChunkStore, artifact: TestArtifact): Promise<void> {
  await store.writeManifest(artifact.signed);
  for (let i = 0; i < artifact.manifest.chunks.length; i++) await store.writeChunk(artifact.manifest, i, artifact.chunk(i));
  await store.settled(artifact.manifest.sha256);
}

describe(ChunkStore.name, () => {
  let dir: string;
  let metrics: AgentMetrics;
  const open = (max = 1024 * 1024): Promise<ChunkStore> => ChunkStore.open(dir, max, metrics, silentLogger());

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'chunk-store-'));
    metrics = new AgentMetrics();
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('keeps chunks and the manifest across a restart', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    await storeAll(await open(), artifact);

    const reopened = await open();
    expect(await reopened.readManifest(artifact.manifest.sha256)).toEqual(artifact.signed);
    expect(reopened.isComplete(artifact.manifest.sha256)).toBe(true);
    for (let i = 0; i < 3; i++) expect(Buffer.from((await reopened.readChunk(artifact.manifest, i))!)).toEqual(artifact.chunk(i));
    expect(reopened.size).toBe(10_000);
  });

  it('catches a bit flipped on disk, deletes the chunk and reports a miss', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    await storeAll(await open(), artifact);
    const file = join(dir, 'artifacts', artifact.manifest.sha256, '1.chunk');
    const bytes = await readFile(file);
    bytes[123] ^= 0x04;
    await writeFile(file, bytes);

    const reopened = await open();
    expect(await reopened.readChunk(artifact.manifest, 1)).toBeUndefined();
    expect(existsSync(file)).toBe(false);
    expect(reopened.hasChunk(artifact.manifest.sha256, 1)).toBe(false);
    expect(reopened.isComplete(artifact.manifest.sha256)).toBe(false);
    expect(await metrics.badChunks.get().then((m) => m.values.find((v) => v.labels.source === 'cache')?.value)).toBe(1);
    // The other chunks are still good.
    expect(Buffer.from((await reopened.readChunk(artifact.manifest, 2))!)).toEqual(artifact.chunk(2));
  });

  it('rejects a truncated chunk file (as a non-atomic writer would leave after a crash)', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    await storeAll(await open(), artifact);
    await writeFile(join(dir, 'artifacts', artifact.manifest.sha256, '0.chunk'), artifact.chunk(0).subarray(0, 1000));
    const reopened = await open();
    expect(await reopened.readChunk(artifact.manifest, 0)).toBeUndefined();
  });

  it('removes leftovers of interrupted writes at start and never counts them as chunks', async () => {
    const artifact = makeArtifact(5000, 4096, key);
    const store = await open();
    await store.writeManifest(artifact.signed);
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(join(dir, 'tmp', 'deadbeef.tmp'), artifact.chunk(0).subarray(0, 10));

    const reopened = await open();
    expect(await readdir(join(dir, 'tmp'))).toEqual([]);
    expect(reopened.hasChunk(artifact.manifest.sha256, 0)).toBe(false);
  });

  it('marks an artifact complete only once every chunk is there and the whole file matches', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    const store = await open();
    await store.writeManifest(artifact.signed);
    await store.writeChunk(artifact.manifest, 0, artifact.chunk(0));
    await store.writeChunk(artifact.manifest, 2, artifact.chunk(2));
    expect(store.isComplete(artifact.manifest.sha256)).toBe(false);
    await store.writeChunk(artifact.manifest, 1, artifact.chunk(1));
    await store.settled(artifact.manifest.sha256);
    expect(store.isComplete(artifact.manifest.sha256)).toBe(true);
  });

  it('completes an artifact without reading it back once a full download has hashed it whole', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    const store = await open();
    await store.writeManifest(artifact.signed);
    const release = store.pin(artifact.manifest.sha256); // the device download
    for (let i = 0; i < 3; i++) await store.writeChunk(artifact.manifest, i, artifact.chunk(i));
    await store.settled(artifact.manifest.sha256);
    expect(store.isComplete(artifact.manifest.sha256)).toBe(false); // waits for the download's own check
    const read = jest.spyOn(store, 'readChunk');
    expect(store.isWholeVerified(artifact.manifest)).toBe(false);
    store.wholeVerified(artifact.manifest);
    release();
    await store.settled(artifact.manifest.sha256);
    expect(store.isComplete(artifact.manifest.sha256)).toBe(true);
    expect(store.isWholeVerified(artifact.manifest)).toBe(true);
    expect(read).not.toHaveBeenCalled();
    expect(existsSync(join(dir, 'artifacts', artifact.manifest.sha256, 'complete'))).toBe(true);
  });

  it('checks the whole file itself once an artifact completed while in use is released unchecked', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    const store = await open();
    await store.writeManifest(artifact.signed);
    const release = store.pin(artifact.manifest.sha256); // e.g. only range downloads, which prove nothing about the whole
    for (let i = 0; i < 3; i++) await store.writeChunk(artifact.manifest, i, artifact.chunk(i));
    expect(store.isComplete(artifact.manifest.sha256)).toBe(false);
    release();
    await store.settled(artifact.manifest.sha256);
    expect(store.isComplete(artifact.manifest.sha256)).toBe(true);
    expect(store.isWholeVerified(artifact.manifest)).toBe(true);
  });

  it('drops an artifact whose chunks all match the manifest but do not make up its SHA-256', async () => {
    const artifact = makeArtifact(10_000, 4096, key);
    const lying = { ...artifact.manifest, sha256: 'ab'.repeat(32) };
    const store = await open();
    await store.writeManifest({ ...artifact.signed, manifest: lying });
    for (let i = 0; i < 3; i++) await store.writeChunk(lying, i, artifact.chunk(i));
    await store.settled(lying.sha256);
    expect(store.isComplete(lying.sha256)).toBe(false);
    expect(store.isWholeVerified(lying)).toBe(false);
    expect(store.hasChunk(lying.sha256, 0)).toBe(false);
  });

  it('evicts whole artifacts, least recently used first, but never a pinned one', async () => {
    const store = await open(25_000);
    const [a, b, c, d] = [1, 2, 3, 4].map(() => makeArtifact(10_000, 4096, key));
    await storeAll(store, a);
    await storeAll(store, b);
    const releaseA = store.pin(a.manifest.sha256);
    await storeAll(store, c); // 30 000 > 25 000: b goes (a is older but pinned)
    expect(store.hasChunk(a.manifest.sha256, 0)).toBe(true);
    expect(store.hasChunk(b.manifest.sha256, 0)).toBe(false);
    expect(existsSync(join(dir, 'artifacts', b.manifest.sha256))).toBe(false);
    expect(store.size).toBe(20_000);

    releaseA();
    await store.readChunk(c.manifest, 0); // c is now the most recently used
    await storeAll(store, d); // a is the least recently used and no longer pinned
    expect(store.hasChunk(a.manifest.sha256, 0)).toBe(false);
    expect(store.hasChunk(c.manifest.sha256, 0)).toBe(true);
    expect(store.hasChunk(d.manifest.sha256, 0)).toBe(true);
  });

  it('refuses to store a chunk of the wrong length', async () => {
    const artifact = makeArtifact(5000, 4096, key);
    const store = await open();
    await expect(store.writeChunk(artifact.manifest, 1, artifact.chunk(0))).rejects.toThrow(/wrong length/);
  });
});
