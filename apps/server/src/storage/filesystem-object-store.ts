import { createReadStream, createWriteStream } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectStore, type ByteRange, type ObjectInfo } from './object-store';

const READ_CHUNK_BYTES = 256 * 1024;

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
    await mkdir(dirname(path), { recursive: true });
    const handle = await open(path, 'w');
    try {
      await pipeline(source, createWriteStream('', { fd: handle.fd, autoClose: false, highWaterMark: READ_CHUNK_BYTES }));
      // Durable before the row that makes it visible is committed.
      await handle.datasync();
    } catch (error) {
      await handle.close().catch(() => undefined);
      await rm(path, { force: true });
      throw error;
    }
    await handle.close();
  }

  async promote(from: string, to: string): Promise<void> {
    const target = this.pathOf(to);
    if (await this.stat(to)) {
      await this.remove(from);
      return;
    }
    await mkdir(dirname(target), { recursive: true });
    await rename(this.pathOf(from), target);
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

  async presignedDownloadUrl(): Promise<string | undefined> {
    return undefined;
  }

  async ping(): Promise<void> {
    await mkdir(this.root, { recursive: true });
    await access(this.root);
  }
}
