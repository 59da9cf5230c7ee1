import { Client, S3Error } from 'minio';
import type { Readable } from 'node:stream';
import { ObjectStore, storeFull, type ByteRange, type ObjectInfo } from './object-store';

export interface S3Settings {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Multipart part size: the most memory one upload holds. S3 allows 10,000 parts per object. */
  partSizeBytes: number;
}

function isNotFound(error: unknown): boolean {
  const code = (error as S3Error | undefined)?.code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchObject';
}

/**
 * What S3 servers answer when they have no room: MinIO's free-space floor (507) and bucket quota,
 * Ceph RGW's quota (403), and the 507 code some other servers use.
 */
const STORE_FULL_CODES = new Set(['XMinioStorageFull', 'XMinioAdminBucketQuotaExceeded', 'QuotaExceeded', 'InsufficientStorage', 'InsufficientCapacity']);

function describeStoreFull(error: unknown): Error {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && STORE_FULL_CODES.has(code)) return storeFull(`S3 answered ${code}`);
  // MinIO answers a drive that filled during the write with a 500 InternalError naming the cause.
  if (typeof message === 'string' && /no space left on device|disk quota exceeded/i.test(message)) return storeFull('the S3 server ran out of disk');
  return error as Error;
}

/** Binaries in an S3 bucket through the MinIO client (MinIO in production, any S3 API in principle). */
export class MinioObjectStore extends ObjectStore {
  readonly kind = 's3';
  private readonly client: Client;
  private readonly bucket: string;
  private readonly region: string;

  constructor(settings: S3Settings) {
    super();
    const url = new URL(settings.endpoint);
    const useSSL = url.protocol === 'https:';
    this.client = new Client({
      endPoint: url.hostname,
      port: url.port ? Number(url.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: settings.accessKey,
      secretKey: settings.secretKey,
      region: settings.region,
      pathStyle: true,
      // Without a fixed part size the client sizes parts for a 5 TiB object when the length is unknown (560 MiB each, in memory).
      partSize: settings.partSizeBytes,
    });
    this.bucket = settings.bucket;
    this.region = settings.region;
  }

  /** Creates the bucket when it does not exist yet. */
  async ensureBucket(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (error) {
        // Another replica created it between our check and our create.
        const code = (error as S3Error).code;
        if (code !== 'BucketAlreadyOwnedByYou' && code !== 'BucketAlreadyExists') throw error;
      }
    }
  }

  async write(key: string, source: Readable, expectedSize?: number): Promise<void> {
    // The client pipes the source without listening for its errors: watch them ourselves, or a
    // failed source (an oversized or aborted upload) would leave this promise pending forever.
    let onError!: (error: Error) => void;
    const sourceFailed = new Promise<never>((_, reject) => {
      onError = reject;
      source.once('error', onError);
    });
    try {
      await Promise.race([this.client.putObject(this.bucket, key, source, expectedSize), sourceFailed]);
    } catch (error) {
      source.destroy();
      await this.client.removeIncompleteUpload(this.bucket, key).catch(() => undefined);
      await this.remove(key).catch(() => undefined);
      throw describeStoreFull(error);
    } finally {
      source.off('error', onError);
    }
  }

  async promote(from: string, to: string): Promise<void> {
    if (!(await this.stat(to))) {
      await this.client.copyObject(this.bucket, to, `/${this.bucket}/${from}`).catch((error: unknown) => {
        throw describeStoreFull(error);
      });
    }
    await this.remove(from);
  }

  async read(key: string, range?: ByteRange): Promise<Readable> {
    if (range) return this.client.getPartialObject(this.bucket, key, range.start, range.end - range.start + 1);
    return this.client.getObject(this.bucket, key);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const info = await this.client.statObject(this.bucket, key);
      return { size: info.size };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  async remove(key: string): Promise<void> {
    await this.client.removeObject(this.bucket, key);
  }

  async *list(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }> {
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
      if (item.name) yield { key: item.name, modifiedAt: item.lastModified ?? new Date(0) };
    }
  }

  async abortIncompleteWrites(prefix: string, startedBefore: Date): Promise<number> {
    let aborted = 0;
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const page = await this.client.listIncompleteUploadsQuery(this.bucket, prefix, keyMarker, uploadIdMarker, '');
      for (const upload of page.uploads) {
        // An upload without a readable start time is left alone: it may belong to a live writer.
        if (upload.initiated.getTime() < startedBefore.getTime()) {
          await this.client.abortMultipartUpload(this.bucket, upload.key, upload.uploadId);
          aborted++;
        }
      }
      if (!page.isTruncated || !page.nextKeyMarker || page.nextKeyMarker === keyMarker) return aborted;
      keyMarker = page.nextKeyMarker;
      uploadIdMarker = page.nextUploadIdMarker;
    }
  }

  async presignedDownloadUrl(key: string, ttlSeconds: number, signedAt: Date): Promise<string> {
    return this.client.presignedGetObject(this.bucket, key, ttlSeconds, {}, signedAt);
  }

  async ping(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) throw new Error(`bucket ${this.bucket} does not exist`);
  }
}
