import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectStore, storeFull, type ByteRange, type ObjectInfo } from './object-store';

const READ_CHUNK_BYTES = 256 * 1024;
/** A full disk, or a user's or project's quota spent. */
const NO_SPACE_CODES = new Set(['ENOSPC', 'EDQUOT']);

/** Tells a full disk apart from any other failure: it is not the client's fault, nor a broken store. */
function describeNoSpace(error: unknown): Error {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return code !== undefined && NO_SPACE_CODES.has(code) ? storeFull(code === 'EDQUOT' ? 'disk quota exceeded' : 'disk full') : (error as Error);
}

/** The embedded store: one file per key under DATA_DIR/objects. */
export class FilesystemObjectStore extends ObjectStore {
  readonly kind = 'filesystem';

  constructor(private readonly root: string) {
    super();
  }

  private pathOf(key: string): string {
    if (key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
      throw new Error(`invalid object key ${key}`);
    }
    return join(this.root, ...key.split('/'));
  }

  async write(key: string, source: Readable, _expectedSize?: number): Promise<void> {
    const path = this.pathOf(key);
    let handle: FileHandle;
    try {
      await mkdir(dirname(path), { recursive: true });
      handle = await open(path, 'w');
    } catch (error) {
      throw describeNoSpace(error);
    }
    try {
      await pipeline(source, createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: READ_CHUNK_BYTES }));
      // Durable before the row that makes it visible is committed (and a full disk can surface only here).
      await handle.datasync();
      await handle.close();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(path, { force: true });
      throw describeNoSpace(error);
    }
  }

  async promote(from: string, to: string): Promise<void> {
    const target = this.pathOf(to);
    if (await this.stat(to)) {
      await this.remove(from);
      return;
    }
    try {
      await mkdir(dirname(target), { recursive: true });
      await rename(this.pathOf(from), target);
    } catch (error) {
      throw describeNoSpace(error);
    }
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key);
    const stream = createReadStream(path, { start: range?.start, end: range?.end, highWaterMark: READ_CHUNK_BYTES });
    // Surface a missing file as a rejected promise rather than an error on a stream nobody reads yet.
    await new Promise<void>((resolve, reject) => {
      stream.once('open', () => resolve());
      stream.once('error', reject);
    });
    return stream;
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await stat(this.pathOf(key));
      return info.isFile() ? { size: info.size } : undefined;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }

  async *list(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
    const base = this.pathOf(prefix.replace(/\/+$/, ''));
    let entries;
    try {
      entries = await readdir(base, { recursive: true, withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    for (const entry of entries) {
      if (!entry.isFile()) continue;
      const path = join(entry.parentPath, entry.name);
      const info = await stat(path).catch(() => undefined);
      if (info) yield { key: relative(this.root, path).split(sep).join('/'), modifiedAt: info.mtime };
    }
  }

  /** A partial file is an ordinary file here, which {@link list} shows. */
  async abortIncompleteWrites(): Promise<number> {
    return 0;
  }

  async presignedDownloadUrl(): Promise<string | undefined> {
    return undefined;
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root);
  }
}
