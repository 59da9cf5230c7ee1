import type { CatalogSnapshot } from '@app/resolver';

/**
 * One stored binary (content hash), as downloads and manifests need it without the database:
 * what its first stored artifact says. That one gives the binary its Last-Modified and is the
 * one its signed manifest names, until it is deleted.
 */
export interface CatalogBinary {
  sha256: string;
  size: number;
  createdAt: Date;
  /** The first stored artifact with these bytes (oldest, then lowest id). */
  artifactId: string;
}

/** A snapshot for device decisions, and the stored binaries by lower-case SHA-256. */
export interface LoadedCatalog {
  snapshot: CatalogSnapshot;
  binaries: ReadonlyMap<string, CatalogBinary>;
}
