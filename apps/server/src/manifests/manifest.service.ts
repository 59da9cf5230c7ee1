import { canonicalJson } from '@app/manifest';
import { Injectable, Logger } from '@nestjs/common';
import { DataSource, type EntityManager } from 'typeorm';
import { CatalogService } from '../catalog/catalog.service';
import { DomainError, notFound } from '../common/domain-error';
import { isDatabaseUnavailable, isForeignKeyViolation, unavailableIfDatabaseDown } from '../database/driver-errors';
import { bodyEtag, buildManifest, ChunkHashesMismatchError, signedManifestBody, type ManifestSource } from './manifest';
import { ByteBoundedLru } from './manifest-cache';
import { SigningKeys, type PublicSigningKey } from './signing-keys';

/** A signed manifest as served: the exact body and its ETag. */
export interface ServedManifest {
  body: string;
  etag: string;
  keyId: string;
}

/** A served manifest as kept in memory, with the artifact it names. */
interface CachedManifest extends ServedManifest {
  artifactId: string;
}

interface StoredManifestRow {
  manifest: string;
  signature: string;
  key_id: string;
  artifact_id: string;
}

interface ArtifactRow {
  id: string;
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: string | number;
  chunk_size: number;
  chunk_hashes: Uint8Array;
  created_at: Date | string;
}

/** Attempts when the artifact a manifest was being built for is deleted at that moment. */
const BUILD_ATTEMPTS = 3;
/**
 * Bytes of served manifests kept in memory. A manifest lists one hash per chunk: a 1 GiB artifact
 * in 1 MiB chunks has one of about 70 kB, so a few hundred large ones (thousands of small) fit.
 */
const CACHE_BYTES = 16 * 1024 * 1024;

/**
 * Signed manifests. Each is built once, on the first request for its content hash, and stored:
 * from then on every replica serves the same bytes (a manifest must not change once served, or a
 * cache and the origin would disagree). The only exception is a manifest signed by a key the
 * operator has since retired (no longer listed in GET /keys): it is signed again with the current key.
 *
 * When one binary is stored under several component versions, the manifest names the first stored
 * of them; if that version is deleted, its manifest goes with it and the next request builds one
 * for the oldest version that remains.
 *
 * Served manifests are also kept in a bounded in-memory cache, so that devices fetch them without
 * a query and while the database is down. An entry is served only while the catalog still names
 * the artifact it was built for as the binary's first, which is exactly when the stored one is
 * still the same (Ed25519 signatures are deterministic and `createdAt` is the artifact's). A
 * manifest not read since this process started cannot be served during an outage: that is a 503.
 */
@Injectable()
export class ManifestService {
  private readonly logger = new Logger(ManifestService.name);

  private readonly cache = new ByteBoundedLru<CachedManifest>(CACHE_BYTES);

  constructor(
    private readonly dataSource: DataSource,
    private readonly keys: SigningKeys,
    private readonly catalog: CatalogService,
  ) {}

  /** The public keys devices verify manifests with, the current one first. */
  publicKeys(): PublicSigningKey[] {
    return this.keys.list();
  }

  /** The signed manifest of the artifact with this SHA-256 (lower-case hex); NotFound when none has it. */
  async signedManifest(sha256: string): Promise<ServedManifest> {
    const cached = this.cache.get(sha256);
    if (cached && this.keys.isActive(cached.keyId) && this.catalog.binary(sha256)?.artifactId === cached.artifactId) return cached;
    let manifest: CachedManifest;
    try {
      manifest = await this.loadOrBuild(sha256);
    } catch (error) {
      if (isDatabaseUnavailable(error) && !this.catalog.binary(sha256)) throw notFound(`no artifact has sha256 ${sha256}`);
      throw unavailableIfDatabaseDown(error, `the manifest of ${sha256} is not in this replica's memory`);
    }
    this.cache.set(sha256, manifest, manifest.body.length);
    return manifest;
  }

  private async loadOrBuild(sha256: string): Promise<CachedManifest> {
    const stored = await this.findStored(this.dataSource.manager, sha256);
    if (stored && this.keys.isActive(stored.key_id)) return this.served(stored);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.dataSource.transaction((manager) => this.build(manager, sha256));
      } catch (error) {
        // The artifact was deleted between reading it and storing its manifest: look again.
        if (isForeignKeyViolation(error) && attempt < BUILD_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  private served(row: StoredManifestRow): CachedManifest {
    const body = signedManifestBody(row.manifest, row.signature);
    return { body, etag: bodyEtag(body), keyId: row.key_id, artifactId: row.artifact_id };
  }

  private async findStored(manager: EntityManager, sha256: string): Promise<StoredManifestRow | undefined> {
    const rows: StoredManifestRow[] = await manager.query(`SELECT manifest, signature, key_id, artifact_id FROM manifests WHERE sha256 = $1`, [sha256]);
    return rows[0];
  }

  /**
   * Builds, signs and stores the manifest under a per-hash lock, so that replicas asked at the
   * same moment sign once; the others find the stored one once the lock is theirs.
   */
  private async build(manager: EntityManager, sha256: string): Promise<CachedManifest> {
    await manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`manifest:${sha256}`]);
    const stored = await this.findStored(manager, sha256);
    if (stored && this.keys.isActive(stored.key_id)) return this.served(stored);

    const artifacts: ArtifactRow[] = await manager.query(
      `SELECT a.id, c.name AS component, a.version, a.sha256, a.md5, a.size, a.chunk_size, a.chunk_hashes, a.created_at
         FROM artifacts a JOIN components c ON c.id = a.component_id
        WHERE a.sha256 = $1
        ORDER BY a.created_at ASC, a.id ASC
        LIMIT 1`,
      [sha256],
    );
    const artifact = artifacts[0];
    if (!artifact) throw notFound(`no artifact has sha256 ${sha256}`);

    const source: ManifestSource = {
      component: artifact.component,
      version: artifact.version,
      sha256: artifact.sha256,
      md5: artifact.md5,
      size: Number(artifact.size),
      chunkSize: artifact.chunk_size,
      chunkHashes: artifact.chunk_hashes,
      createdAt: new Date(artifact.created_at),
    };
    let canonical: string;
    try {
      canonical = canonicalJson(buildManifest(source, this.keys.currentKeyId));
    } catch (error) {
      if (error instanceof ChunkHashesMismatchError) {
        this.logger.error(error.message);
        throw new DomainError('Unavailable', `the manifest of ${sha256} cannot be built; the appliance log has the details`);
      }
      throw error;
    }
    const signature = this.keys.sign(Buffer.from(canonical, 'utf8')).toString('base64');
    await manager.query(
      `INSERT INTO manifests (sha256, artifact_id, key_id, manifest, signature) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (sha256) DO UPDATE SET artifact_id = EXCLUDED.artifact_id, key_id = EXCLUDED.key_id,
         manifest = EXCLUDED.manifest, signature = EXCLUDED.signature, created_at = now()`,
      [sha256, artifact.id, this.keys.currentKeyId, canonical, signature],
    );
    if (stored) this.logger.log(`manifest of ${sha256} was signed by retired key ${stored.key_id}; signed again with ${this.keys.currentKeyId}`);
    return this.served({ manifest: canonical, signature, key_id: this.keys.currentKeyId, artifact_id: artifact.id });
  }
}
