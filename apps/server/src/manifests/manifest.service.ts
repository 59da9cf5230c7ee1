import { canonicalJson } from '@app/manifest';
import { Injectable, Logger } from '@nestjs/common';
import { CatalogService } from '../catalog/catalog.service';
import { DomainError, notFound } from '../common/domain-error';
import { isDatabaseUnavailable, isForeignKeyViolation, unavailableIfDatabaseDown } from '../database/driver-errors';
import { UnitOfWork } from '../database/unit-of-work';
import { bodyEtag, buildManifest, ChunkHashesMismatchError, signedManifestBody } from './manifest';
import { ByteBoundedLru } from './manifest-cache';
import { ManifestRepository, type StoredManifest } from './manifest.repository';
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
    private readonly repository: ManifestRepository,
    private readonly unitOfWork: UnitOfWork,
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
    const stored = await this.repository.find(sha256);
    if (stored && this.keys.isActive(stored.keyId)) return this.served(stored);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.unitOfWork.run(() => this.build(sha256));
      } catch (error) {
        // The artifact was deleted between reading it and storing its manifest: look again.
        if (isForeignKeyViolation(error) && attempt < BUILD_ATTEMPTS) continue;
        throw error;
      }
    }
  }

  private served(stored: StoredManifest): CachedManifest {
    const body = signedManifestBody(stored.manifest, stored.signature);
    return { body, etag: bodyEtag(body), keyId: stored.keyId, artifactId: stored.artifactId };
  }

  /**
   * Builds, signs and stores the manifest under a per-hash lock, so that replicas asked at the
   * same moment sign once; the others find the stored one once the lock is theirs.
   */
  private async build(sha256: string): Promise<CachedManifest> {
    await this.repository.lockHash(sha256);
    const stored = await this.repository.find(sha256);
    if (stored && this.keys.isActive(stored.keyId)) return this.served(stored);

    const source = await this.repository.source(sha256);
    if (!source) throw notFound(`no artifact has sha256 ${sha256}`);
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
    const signed: StoredManifest = { manifest: canonical, signature, keyId: this.keys.currentKeyId, artifactId: source.artifactId };
    await this.repository.store(sha256, signed);
    if (stored) this.logger.log(`manifest of ${sha256} was signed by retired key ${stored.keyId}; signed again with ${this.keys.currentKeyId}`);
    return this.served(signed);
  }
}
