import type { Readable } from 'node:stream';
import { insufficientStorage, type DomainError } from '../common/domain-error';

export interface ByteRange {
  /** First byte, inclusive. */
  start: number;
  /** Last byte, inclusive. */
  end: number;
}

export interface ObjectInfo {
  size: number;
}

/**
 * Where binaries live: a local folder (embedded default) or an S3 bucket (MinIO). Keys are
 * slash-separated paths such as `artifacts/<sha256>` and `uploads/<id>`.
 */
export abstract class ObjectStore {
  /** A short name for logs and /readyz. */
  abstract readonly kind: string;

  /**
   * Streams `source` into `key`. Resolves once the bytes are durable; rejects (leaving nothing)
   * when the source or the store fails. `expectedSize`, when known, lets S3 use a single PUT.
   */
  abstract write(key: string, source: Readable, expectedSize?: number): Promise<void>;

  /** Makes `from` visible as `to` and removes `from`. If `to` exists it is kept (content-addressed keys). */
  abstract promote(from: string, to: string): Promise<void>;

  abstract read(key: string, range?: ByteRange): Promise<Readable>;

  /** Size of an object, or undefined when it does not exist. */
  abstract stat(key: string): Promise<ObjectInfo | undefined>;

  /** Removes an object; removing a missing one is not an error. */
  abstract remove(key: string): Promise<void>;

  /** Keys under a prefix with their last modification time, for housekeeping. */
  abstract list(prefix: string): AsyncIterable<{ key: string; modifiedAt: Date }>;

  /**
   * Abandons writes under a prefix that started before `startedBefore` and never completed, and
   * which {@link list} does not show (S3 multipart uploads, whose parts take space until aborted).
   * Answers how many were abandoned.
   */
  abstract abortIncompleteWrites(prefix: string, startedBefore: Date): Promise<number>;

  /**
   * A time-limited URL a device can download from directly, when the store supports it. The same
   * `signedAt` gives the same URL, which keeps answers that carry it cacheable.
   */
  abstract presignedDownloadUrl(key: string, ttlSeconds: number, signedAt: Date): Promise<string | undefined>;

  /** Throws when the store cannot be reached. */
  abstract ping(): Promise<void>;
}

/** The error a store throws when it has no room left: nothing of the write was kept. */
export function storeFull(detail: string): DomainError {
  return insufficientStorage(`the object store has no space left (${detail}); nothing was stored. Free some space, then try again`);
}
