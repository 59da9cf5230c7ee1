import { chunkLength, chunkMatches, type Manifest, type SignedManifest } from '@app/manifest';
import { randomBytes, createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../logging/logger';
import type { AgentMetrics } from '../metrics/agent-metrics';

interface ArtifactEntry {
  /** Bytes of chunk files on disk. */
  bytes: number;
  lastUsed: number;
  present: Set<number>;
  /** Every chunk is on disk and the whole file's SHA-256 was checked against the manifest. */
  complete: boolean;
  /**
   * The chunk layout (see {@link layoutOf}) whose chunk hashes were shown, in this process, to make
   * up the artifact's SHA-256, by this store or by a device download that hashed the whole file as
   * it went. Any chunks that each match that layout are then the right file, so completing the
   * artifact or serving it again needs no further pass over the whole file.
   */
  wholeVerifiedLayout?: string;
  lastTouchPersisted: number;
}

const HEX64 = /^[0-9a-f]{64}$/;
const CHUNK_FILE = /^(\d+)\.chunk$/;
/** Persisting an access time costs a syscall; once a minute is plenty for LRU ordering. */
const TOUCH_PERSIST_MS = 60_000;

const layouts = new WeakMap<Manifest, string>();

/** A digest of what a manifest says the artifact is made of (size, chunk size, chunk hashes). */
function layoutOf(manifest: Manifest): string {
  let layout = layouts.get(manifest);
  if (!layout) {
    layout = createHash('sha256')
      .update(`${manifest.sha256}:${manifest.size}:${manifest.chunkSize}:${manifest.chunks.join(',')}`)
      .digest('hex');
    layouts.set(manifest, layout);
  }
  return layout;
}

/**
 * The agent's disk cache: `artifacts/<sha256>/manifest.json`, `<index>.chunk` and a `complete` marker.
 *
 * - Chunks are written to `tmp/` and renamed into place, so a crash never leaves a half chunk under
 *   a chunk's name.
 * - Every read re-hashes the chunk against the (verified) manifest: a bit flipped on disk, before
 *   or after a restart, is caught, the file deleted and the caller told "miss" so it fetches again.
 * - The size is bounded; whole artifacts are evicted least-recently-used first, never one that is
 *   pinned (being streamed to a device or fetched).
 */
export class ChunkStore {
  private readonly artifacts = new Map<string, ArtifactEntry>();
  private readonly pins = new Map<string, number>();
  private readonly wholeChecks = new Map<string, Promise<void>>();
  /** Artifact directories known to exist, so that storing a chunk costs no mkdir. */
  private readonly knownDirs = new Set<string>();
  /** Manifests of artifacts whose whole-file check waits for their release. */
  private readonly deferred = new Map<string, Manifest>();
  private totalBytes = 0;
  private evicting = false;

  private constructor(
    private readonly root: string,
    private readonly maxBytes: number,
    private readonly metrics: AgentMetrics,
    private readonly log: Logger,
  ) {}

  /** Opens (and indexes) the cache directory; leftovers of interrupted writes are removed. */
  static async open(root: string, maxBytes: number, metrics: AgentMetrics, log: Logger): Promise<ChunkStore> {
    const store = new ChunkStore(root, maxBytes, metrics, log);
    await rm(store.tmpDir, { recursive: true, force: true });
    await mkdir(store.tmpDir, { recursive: true });
    await mkdir(store.artifactsDir, { recursive: true });
    await store.scan();
    await store.evictIfNeeded();
    return store;
  }

  private get tmpDir(): string {
    return join(this.root, 'tmp');
  }

  private get artifactsDir(): string {
    return join(this.root, 'artifacts');
  }

  private artifactDir(sha256: string): string {
    return join(this.artifactsDir, sha256);
  }

  private chunkPath(sha256: string, index: number): string {
    return join(this.artifactDir(sha256), `${index}.chunk`);
  }

  private async scan(): Promise<void> {
    for (const name of await readdir(this.artifactsDir)) {
      if (!HEX64.test(name)) continue;
      const dir = this.artifactDir(name);
      const entry: ArtifactEntry = { bytes: 0, lastUsed: 0, present: new Set(), complete: false, lastTouchPersisted: 0 };
      for (const file of await readdir(dir)) {
        const match = CHUNK_FILE.exec(file);
        if (match) {
          const info = await stat(join(dir, file));
          entry.present.add(Number(match[1]));
          entry.bytes += info.size;
        } else if (file === 'complete') {
          entry.complete = true;
        }
      }
      const info = await stat(join(dir, 'manifest.json')).catch(() => stat(dir));
      entry.lastUsed = info.mtimeMs;
      entry.lastTouchPersisted = info.mtimeMs;
      this.artifacts.set(name, entry);
      this.totalBytes += entry.bytes;
    }
    this.metrics.cacheBytes.set(this.totalBytes);
    this.log.info({ artifacts: this.artifacts.size, bytes: this.totalBytes }, 'cache indexed');
  }

  private entry(sha256: string): ArtifactEntry {
    let entry = this.artifacts.get(sha256);
    if (!entry) {
      entry = { bytes: 0, lastUsed: Date.now(), present: new Set(), complete: false, lastTouchPersisted: 0 };
      this.artifacts.set(sha256, entry);
    }
    return entry;
  }

  /** Keeps an artifact from being evicted until the returned function is called. */
  pin(sha256: string): () => void {
    this.pins.set(sha256, (this.pins.get(sha256) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.pins.get(sha256) ?? 1) - 1;
      if (n <= 0) {
        this.pins.delete(sha256);
        this.checkDeferredWhole(sha256);
      } else {
        this.pins.set(sha256, n);
      }
      // An artifact bigger than the cache stays while in use and goes once released.
      this.evictIfNeeded().catch((error: unknown) => this.log.warn({ err: error }, 'eviction failed'));
    };
  }

  /** Marks an artifact as recently used (LRU order survives restarts through the manifest's mtime). */
  touch(sha256: string): void {
    const entry = this.artifacts.get(sha256);
    if (!entry) return;
    const now = Date.now();
    entry.lastUsed = now;
    if (now - entry.lastTouchPersisted > TOUCH_PERSIST_MS) {
      entry.lastTouchPersisted = now;
      const seconds = now / 1000;
      utimes(join(this.artifactDir(sha256), 'manifest.json'), seconds, seconds).catch(() => undefined);
    }
  }

  /** The stored signed manifest (unverified JSON: the caller verifies it), if any. */
  async readManifest(sha256: string): Promise<unknown> {
    try {
      return JSON.parse(await readFile(join(this.artifactDir(sha256), 'manifest.json'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Stores a verified signed manifest. */
  async writeManifest(signed: SignedManifest): Promise<void> {
    const sha256 = signed.manifest.sha256;
    await this.atomicWrite(join(this.artifactDir(sha256), 'manifest.json'), Buffer.from(JSON.stringify(signed)));
    this.entry(sha256);
  }

  hasChunk(sha256: string, index: number): boolean {
    return this.artifacts.get(sha256)?.present.has(index) ?? false;
  }

  isComplete(sha256: string): boolean {
    return this.artifacts.get(sha256)?.complete ?? false;
  }

  /** True once this manifest's chunk hashes are known to make up its SHA-256 (see {@link wholeVerified}). */
  isWholeVerified(manifest: Manifest): boolean {
    return this.artifacts.get(manifest.sha256)?.wholeVerifiedLayout === layoutOf(manifest);
  }

  /**
   * The caller hashed the whole artifact, made only of chunks verified against `manifest`, and got
   * the manifest's SHA-256. The artifact is then complete as soon as every chunk is on disk, with
   * no second pass over the file.
   */
  wholeVerified(manifest: Manifest): void {
    const entry = this.artifacts.get(manifest.sha256);
    if (!entry || entry.wholeVerifiedLayout === layoutOf(manifest)) return;
    entry.wholeVerifiedLayout = layoutOf(manifest);
    if (!entry.complete && entry.present.size === manifest.chunks.length) void this.checkWhole(manifest);
  }

  /**
   * Returns chunk `index` if it is on disk and still matches the manifest; a chunk that does not is
   * deleted (and counted), and `undefined` is returned so that the caller fetches it again.
   */
  async readChunk(manifest: Manifest, index: number): Promise<Buffer | undefined> {
    const entry = this.artifacts.get(manifest.sha256);
    if (!entry?.present.has(index)) return undefined;
    let data: Buffer;
    try {
      data = await readFile(this.chunkPath(manifest.sha256, index));
    } catch {
      this.forgetChunk(manifest.sha256, index, 0);
      return undefined;
    }
    if (!chunkMatches(manifest, index, data)) {
      this.metrics.badChunks.inc({ source: 'cache' });
      this.log.warn({ sha256: manifest.sha256, index }, 'cached chunk failed verification: deleted, will fetch again');
      await this.deleteChunk(manifest.sha256, index);
      return undefined;
    }
    this.touch(manifest.sha256);
    return data;
  }

  /** Stores a chunk the caller has verified. When the artifact becomes whole, its full SHA-256 is checked. */
  async writeChunk(manifest: Manifest, index: number, data: Uint8Array): Promise<void> {
    const sha256 = manifest.sha256;
    if (data.byteLength !== chunkLength(manifest, index)) throw new Error('refusing to store a chunk of the wrong length');
    if (this.hasChunk(sha256, index)) return;
    await this.atomicWrite(this.chunkPath(sha256, index), data);
    const entry = this.entry(sha256);
    if (!entry.present.has(index)) {
      entry.present.add(index);
      entry.bytes += data.byteLength;
      this.totalBytes += data.byteLength;
      this.metrics.cacheBytes.set(this.totalBytes);
    }
    entry.lastUsed = Date.now();
    if (!entry.complete && entry.present.size === manifest.chunks.length) {
      // A device download holding the artifact hashes the whole file anyway: wait for it rather
      // than read everything back now (see wholeVerified()).
      if (this.pins.has(sha256) && !this.isWholeVerified(manifest)) this.deferred.set(sha256, manifest);
      else void this.checkWhole(manifest);
    }
    await this.evictIfNeeded();
  }

  /** Resolves when a pending whole-file check (if any) has finished; used by tests and shutdown. */
  async settled(sha256: string): Promise<void> {
    await this.wholeChecks.get(sha256);
  }

  private checkDeferredWhole(sha256: string): void {
    const manifest = this.deferred.get(sha256);
    if (!manifest) return;
    this.deferred.delete(sha256);
    const entry = this.artifacts.get(sha256);
    if (entry && !entry.complete && entry.present.size === manifest.chunks.length) void this.checkWhole(manifest);
  }

  /**
   * Streams the stored chunks through one SHA-256 and compares it with the manifest. The chunks
   * were each verified, so a mismatch means the manifest's chunk list and its sha256 disagree: the
   * artifact is dropped rather than served as "complete". Once the opposite was shown for this
   * manifest (wholeVerified), only the marker is written.
   */
  private checkWhole(manifest: Manifest): Promise<void> {
    const sha256 = manifest.sha256;
    const running = this.wholeChecks.get(sha256);
    if (running) return running;
    const check = (async () => {
      if (this.isWholeVerified(manifest)) {
        await this.markComplete(manifest);
        return;
      }
      const hash = createHash('sha256');
      for (let i = 0; i < manifest.chunks.length; i++) {
        const data = await this.readChunk(manifest, i);
        if (!data) return; // a chunk went bad or was evicted: it will be fetched and this runs again
        hash.update(data);
      }
      if (hash.digest('hex') !== sha256) {
        this.log.error({ sha256 }, 'whole-file SHA-256 does not match the manifest: artifact dropped');
        this.metrics.badChunks.inc({ source: 'cache' });
        await this.evict(sha256);
        return;
      }
      const entry = this.artifacts.get(sha256);
      if (entry) entry.wholeVerifiedLayout = layoutOf(manifest);
      await this.markComplete(manifest);
    })()
      .catch((error: unknown) => this.log.warn({ sha256, err: error }, 'whole-file check failed'))
      .finally(() => this.wholeChecks.delete(sha256));
    this.wholeChecks.set(sha256, check);
    return check;
  }

  private async markComplete(manifest: Manifest): Promise<void> {
    const sha256 = manifest.sha256;
    const whole = (): boolean => this.artifacts.get(sha256)?.present.size === manifest.chunks.length;
    if (!whole()) return;
    await this.atomicWrite(join(this.artifactDir(sha256), 'complete'), Buffer.from(new Date().toISOString()));
    const entry = this.artifacts.get(sha256);
    if (!entry || !whole()) {
      // A chunk went bad or the artifact was evicted meanwhile: the marker must not outlive that.
      await unlink(join(this.artifactDir(sha256), 'complete')).catch(() => undefined);
      return;
    }
    entry.complete = true;
    this.log.info({ sha256, size: manifest.size }, 'artifact complete and verified');
  }

  private async atomicWrite(path: string, data: Uint8Array): Promise<void> {
    const tmp = join(this.tmpDir, `${randomBytes(8).toString('hex')}.tmp`);
    await writeFile(tmp, data);
    const dir = join(path, '..');
    try {
      if (!this.knownDirs.has(dir)) {
        await mkdir(dir, { recursive: true });
        this.knownDirs.add(dir);
      }
      await rename(tmp, path).catch(async (error: NodeJS.ErrnoException) => {
        // The directory went with an evicted artifact after it was last known to exist.
        if (error.code !== 'ENOENT') throw error;
        await mkdir(dir, { recursive: true });
        await rename(tmp, path);
      });
    } catch (error) {
      await unlink(tmp).catch(() => undefined);
      throw error;
    }
  }

  private forgetChunk(sha256: string, index: number, size: number): void {
    const entry = this.artifacts.get(sha256);
    if (!entry?.present.delete(index)) return;
    entry.bytes -= size;
    entry.complete = false;
    this.totalBytes -= size;
    this.metrics.cacheBytes.set(this.totalBytes);
  }

  private async deleteChunk(sha256: string, index: number): Promise<void> {
    const path = this.chunkPath(sha256, index);
    const size = await stat(path)
      .then((s) => s.size)
      .catch(() => 0);
    this.forgetChunk(sha256, index, size);
    await unlink(path).catch(() => undefined);
    await unlink(join(this.artifactDir(sha256), 'complete')).catch(() => undefined);
  }

  private async evict(sha256: string): Promise<void> {
    const entry = this.artifacts.get(sha256);
    this.artifacts.delete(sha256);
    this.deferred.delete(sha256);
    if (entry) this.totalBytes -= entry.bytes;
    this.metrics.cacheBytes.set(this.totalBytes);
    this.knownDirs.delete(this.artifactDir(sha256));
    await rm(this.artifactDir(sha256), { recursive: true, force: true });
  }

  private async evictIfNeeded(): Promise<void> {
    if (this.totalBytes <= this.maxBytes || this.evicting) return;
    this.evicting = true;
    try {
      const candidates = [...this.artifacts.entries()].sort((a, b) => a[1].lastUsed - b[1].lastUsed);
      for (const [sha256, entry] of candidates) {
        if (this.totalBytes <= this.maxBytes) break;
        if (this.pins.has(sha256) || this.wholeChecks.has(sha256)) continue;
        this.log.info({ sha256, bytes: entry.bytes }, 'evicting least recently used artifact');
        this.metrics.evictions.inc();
        await this.evict(sha256);
      }
    } finally {
      this.evicting = false;
    }
  }

  /** Bytes of chunks currently on disk. */
  get size(): number {
    return this.totalBytes;
  }
}
