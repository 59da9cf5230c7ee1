import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { startTestS3, type TestS3 } from '@test/support/s3';
import { makeTempDir } from '@test/support/temp-dir';
import { FilesystemObjectStore } from './filesystem-object-store';
import { MinioObjectStore } from './minio-object-store';
import type { ObjectStore } from './object-store';

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for await (const object of store.list(prefix)) found.push(object.key);
  return found.sort();
}

function failingAfter(bytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.alloc(bytes, 1));
      } else {
        this.destroy(new Error('connection lost'));
      }
    },
  });
}

describe.each(['filesystem', 's3'] as const)('%s object store', (kind) => {
  let store: ObjectStore;
  let s3: TestS3 | undefined;
  const dir = makeTempDir();

  beforeAll(async () => {
    if (kind === 's3') {
      s3 = await startTestS3();
      const minio = new MinioObjectStore({ ...s3, bucket: 'store-test', region: 'us-east-1', partSizeBytes: 16 * 1024 * 1024 });
      await minio.ensureBucket();
      await minio.ensureBucket();
      store = minio;
    } else {
      store = new FilesystemObjectStore(dir.path);
    }
  });

  afterAll(async () => {
    await s3?.stop();
    dir.remove();
  });

  it('writes, stats, reads whole and by range, and removes', async () => {
    await store.write('uploads/a', Readable.from([Buffer.from('hello '), Buffer.from('world')]), 11);
    expect(await store.stat('uploads/a')).toEqual({ size: 11 });
    expect(await text(await store.read('uploads/a'))).toBe('hello world');
    expect(await text(await store.read('uploads/a', { start: 6, end: 10 }))).toBe('world');
    await store.remove('uploads/a');
    expect(await store.stat('uploads/a')).toBeUndefined();
    await store.remove('uploads/a');
  });

  it('promotes an upload to its final key, keeping an existing final object', async () => {
    await store.write('uploads/b', Readable.from([Buffer.from('first')]), 5);
    await store.promote('uploads/b', 'artifacts/x');
    expect(await store.stat('uploads/b')).toBeUndefined();
    await store.write('uploads/c', Readable.from([Buffer.from('second')]), 6);
    await store.promote('uploads/c', 'artifacts/x');
    expect(await text(await store.read('artifacts/x'))).toBe('first');
    expect(await keys(store, 'uploads/')).toEqual([]);
    expect(await keys(store, 'artifacts/')).toEqual(['artifacts/x']);
  });

  it('leaves nothing when the source fails half way', async () => {
    await expect(store.write('uploads/broken', failingAfter(1000), 5000)).rejects.toThrow();
    expect(await store.stat('uploads/broken')).toBeUndefined();
  });

  it('rejects reading a missing object', async () => {
    await expect(store.read('artifacts/missing')).rejects.toThrow();
  });

  it('answers ping while reachable', async () => {
    await expect(store.ping()).resolves.toBeUndefined();
  });
});
