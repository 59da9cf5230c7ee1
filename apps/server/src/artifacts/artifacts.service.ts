import { compareVersions, parseVersion } from '@app/resolver';
import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { pipeline, type Readable } from 'node:stream';
import { CatalogService } from '../catalog/catalog.service';
import { DATABASE_DISK_FULL_MESSAGE, isDatabaseDiskFull } from '../common/database-disk-full';
import { conflict, DomainError, insufficientStorage, invalidInput, notFound, payloadTooLarge } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { isDatabaseUnavailable, isUniqueViolation } from '../database/driver-errors';
import { UnitOfWork } from '../database/unit-of-work';
import { ManifestService } from '../manifests/manifest.service';
import { MetricsService } from '../metrics/metrics.service';
import { ObjectStore } from '../storage/object-store';
import { StorageSpace } from '../storage/storage-space';
import type { StoredBinary } from './artifact-response';
import type { ArtifactEntity } from './artifact.entity';
import { ArtifactRepository, type ArtifactLock } from './artifact.repository';
import type { ComponentEntity } from './component.entity';
import { DigestStream, type Digest } from './digest-stream';
import { validName, validVersion } from './names';

const MAX_NOTES_LENGTH = 2000;
/** Where uploads stream while they are hashed, before they become an artifact or are dropped. */
const UPLOADS_PREFIX = 'uploads/';

export const artifactKey = (sha256: string) => `artifacts/${sha256}`;

export interface ArtifactView {
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: number;
  requiresFrom: string | null;
  notes: string | null;
  createdAt: Date;
}

export interface UploadRequest {
  component: string;
  version: string;
  requiresFrom?: string;
  notes?: string;
  /** Content-Length when the client sent one. */
  declaredLength?: number;
  body: Readable;
}

export interface UploadResult {
  artifact: ArtifactView;
  /** False when the same bytes were already stored under this version (an idempotent retry). */
  created: boolean;
}

/**
 * Why another feature needs an artifact kept, said as the end of "<component> <version> …"
 * (`is part of rollout 42, which is still active`), or undefined when it does not. It runs inside
 * the deleting unit of work, once the artifact's row is locked against new references.
 */
export type ArtifactUsageCheck = (artifactId: string) => Promise<string | undefined>;

/** A channel as the versions it points at are listed with: told by the channels feature. */
export interface ChannelPointer {
  componentId: string;
  artifactId: string;
  name: string;
}

/** The channels of one component, or those pointing at one artifact, or all of them; each answer ordered by name. */
export type ChannelPointerLookup = (scope: { componentId?: string; artifactId?: string }) => Promise<ChannelPointer[]>;

export function artifactView(component: ComponentEntity, artifact: ArtifactEntity): ArtifactView {
  return {
    component: component.name,
    version: artifact.version,
    sha256: artifact.sha256,
    md5: artifact.md5,
    size: artifact.size,
    requiresFrom: artifact.requiresFrom,
    notes: artifact.notes,
    createdAt: artifact.createdAt,
  };
}

/** The result label of ota_uploads_total for an upload that failed. */
function failedUploadResult(error: unknown): string {
  if (!(error instanceof DomainError)) return 'failed';
  if (error.code === 'InvalidInput' || error.code === 'PayloadTooLarge') return 'rejected';
  if (error.code === 'Conflict') return 'conflict';
  return error.code === 'InsufficientStorage' ? 'no-space' : 'failed';
}

@Injectable()
export class ArtifactService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ArtifactService.name);
  private readonly usageChecks: ArtifactUsageCheck[] = [];
  private channelPointers: ChannelPointerLookup = () => Promise.resolve([]);

  constructor(
    private readonly repository: ArtifactRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly store: ObjectStore,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
    private readonly catalog: CatalogService,
    private readonly manifests: ManifestService,
    private readonly space: StorageSpace,
  ) {}

  /**
   * Lets a feature that refers to artifacts keep them from being deleted (checks run in the order
   * they were registered; the first reason found is the conflict's message).
   */
  registerUsage(check: ArtifactUsageCheck): void {
    this.usageChecks.push(check);
  }

  /** Lets the channels feature name the channels listed with components and versions. */
  registerChannelLookup(lookup: ChannelPointerLookup): void {
    this.channelPointers = lookup;
  }

  async onApplicationBootstrap(): Promise<void> {
    // Runs before the HTTP server listens, so no upload of this process is under way yet.
    await this.removeOrphanUploads();
  }

  /**
   * Stores a binary as a new version. The bytes stream to a temporary key while they are hashed;
   * only when they are complete and the row is committed does the artifact exist. Same bytes under
   * the same version is a harmless retry; other bytes under an existing version is a conflict.
   */
  async upload(request: UploadRequest): Promise<UploadResult> {
    const componentName = validName('component', request.component);
    const version = validVersion(request.version);
    const requiresFrom = request.requiresFrom === undefined || request.requiresFrom === '' ? undefined : validVersion(request.requiresFrom, 'requiresFrom');
    if (requiresFrom && compareVersions(requiresFrom, version) >= 0) {
      throw invalidInput(`requiresFrom (${requiresFrom.raw}) must be lower than the version it guards (${version.raw})`);
    }
    if (request.notes !== undefined && request.notes.length > MAX_NOTES_LENGTH) {
      throw invalidInput(`notes must be at most ${MAX_NOTES_LENGTH} characters`);
    }
    if (request.declaredLength !== undefined && request.declaredLength > this.config.maxUploadBytes) {
      this.metrics.uploads.inc({ result: 'rejected' });
      throw payloadTooLarge(`upload of ${request.declaredLength} bytes is larger than MAX_UPLOAD_BYTES (${this.config.maxUploadBytes})`);
    }
    // Refused before a byte is received: a disk filled to the last block would stop the database too.
    const shortage = await this.space.shortage(request.declaredLength ?? 0);
    if (shortage) {
      this.metrics.uploads.inc({ result: 'no-space' });
      throw insufficientStorage(`not enough space to store this upload (${shortage}); nothing was stored`);
    }

    const uploadKey = `${UPLOADS_PREFIX}${randomUUID()}`;
    let digest: Digest;
    try {
      // A body of unknown length stops before it eats into the floor, rather than at a full disk.
      digest = await this.receive(request.body, uploadKey, request.declaredLength, await this.space.roomForObjects());
    } catch (error) {
      await this.store.remove(uploadKey).catch(() => undefined);
      this.metrics.uploads.inc({ result: failedUploadResult(error) });
      throw error;
    }

    try {
      const result = await this.commit(componentName, version.raw, version.key, requiresFrom?.raw ?? null, request.notes ?? null, uploadKey, digest);
      this.metrics.uploads.inc({ result: result.created ? 'created' : 'unchanged' });
      if (result.created) {
        this.metrics.uploadBytes.inc(digest.size);
        // Sign the manifest now, while the upload's client waits anyway; it is also built on demand.
        await this.manifests.signedManifest(digest.sha256).catch((error: unknown) => this.logger.warn(`manifest of ${digest.sha256} not signed at upload: ${String(error)}`));
      }
      return result;
    } catch (error) {
      this.metrics.uploads.inc({ result: failedUploadResult(error) });
      throw error;
    } finally {
      await this.store.remove(uploadKey).catch(() => undefined);
    }
  }

  private async receive(body: Readable, uploadKey: string, declaredLength: number | undefined, roomBytes: number): Promise<Digest> {
    const digester = new DigestStream(this.config.maxUploadBytes, this.config.manifestChunkBytes, roomBytes);
    let bodyFailed = false;
    // pipeline() forwards an aborted request body as an error into the digester, and so into the store.
    const hashed = pipeline(body, digester, (error) => {
      if (error && !(error instanceof DomainError)) bodyFailed = true;
    });
    try {
      await this.store.write(uploadKey, hashed, declaredLength);
    } catch (error) {
      if (error instanceof DomainError) throw error;
      if (bodyFailed || body.errored !== null) {
        throw invalidInput('the upload was interrupted before the body was complete; nothing was stored');
      }
      this.logger.error(`object store failed while receiving an upload: ${String(error)}`);
      throw new DomainError('Unavailable', 'the object store failed while receiving the upload; nothing was stored, try again');
    }
    return digester.digest;
  }

  private async commit(
    componentName: string,
    version: string,
    versionKey: string,
    requiresFrom: string | null,
    notes: string | null,
    uploadKey: string,
    digest: Digest,
  ): Promise<UploadResult> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.unitOfWork.run(async () => {
          await this.repository.lockContent(digest.sha256);
          const existing = await this.findArtifact(componentName, versionKey);
          if (existing) {
            if (existing.artifact.sha256 !== digest.sha256) {
              throw conflict(
                `${existing.component.name} ${existing.artifact.version} already exists with other content (sha256 ${existing.artifact.sha256}); versions are immutable, upload a new version`,
              );
            }
            return { artifact: artifactView(existing.component, existing.artifact), created: false };
          }
          const component = (await this.findComponent(componentName)) ?? (await this.repository.addComponent(componentName));
          await this.store.promote(uploadKey, artifactKey(digest.sha256));
          const saved = await this.repository.addArtifact({
            componentId: component.id,
            version,
            versionKey,
            sha256: digest.sha256,
            md5: digest.md5,
            size: digest.size,
            requiresFrom,
            notes,
            chunkSize: digest.chunkSize,
            chunkHashes: Buffer.from(digest.chunks.join(''), 'hex'),
          });
          await this.catalog.changed();
          return { artifact: artifactView(component, saved), created: true };
        });
      } catch (error) {
        // Two uploads of one new version raced; the loser re-reads and answers like a retry or a conflict.
        if (isUniqueViolation(error) && attempt < 2) continue;
        await this.removeIfUnreferenced(digest.sha256);
        throw isDatabaseDiskFull(error) ? insufficientStorage(DATABASE_DISK_FULL_MESSAGE) : error;
      }
    }
  }

  private async removeIfUnreferenced(sha256: string): Promise<void> {
    await this.unitOfWork
      .run(async () => {
        await this.repository.lockContent(sha256);
        if ((await this.repository.countWithContent(sha256)) === 0) await this.store.remove(artifactKey(sha256));
      })
      .catch((error: unknown) => this.logger.warn(`could not remove unreferenced object ${sha256}: ${String(error)}`));
  }

  /** The component with this name in any letter case; joins the surrounding unit of work. */
  async findComponent(name: string): Promise<ComponentEntity | undefined> {
    if (name.length > 64) return undefined;
    return this.repository.findComponent(name);
  }

  async requireComponent(name: string): Promise<ComponentEntity> {
    const component = await this.findComponent(name);
    if (!component) throw notFound(`component ${name.slice(0, 64)} does not exist`);
    return component;
  }

  private async findArtifact(componentName: string, versionKey: string, lock?: ArtifactLock): Promise<{ component: ComponentEntity; artifact: ArtifactEntity } | undefined> {
    const component = await this.findComponent(componentName);
    if (!component) return undefined;
    const artifact = await this.repository.findArtifact(component.id, versionKey, lock);
    return artifact ? { component, artifact } : undefined;
  }

  /**
   * The artifact of a component at a version (any spelling of it), or NotFound. Inside a unit of
   * work the row is also locked until commit, so that a version being deleted and one being
   * pointed at (by a channel or a rollout) at the same moment are decided one after the other, as
   * if they had come in turn, instead of failing on a foreign key: this lock only keeps the row
   * from being deleted. A lock that had to wait for a delete finds nothing, which is NotFound.
   */
  requireArtifact(componentName: string, version: string): Promise<{ component: ComponentEntity; artifact: ArtifactEntity }> {
    return this.lockedArtifact(componentName, version, 'reference');
  }

  private async lockedArtifact(componentName: string, version: string, lock: ArtifactLock): Promise<{ component: ComponentEntity; artifact: ArtifactEntity }> {
    const parsed = validVersion(version);
    const found = await this.findArtifact(componentName, parsed.key, lock);
    if (!found) throw notFound(`${componentName.slice(0, 64)} has no version ${version}`);
    return found;
  }

  /** Component names by id (for features that keep component ids). */
  async componentNames(ids: string[]): Promise<Map<string, string>> {
    const components = await this.repository.componentsByIds([...new Set(ids)]);
    return new Map(components.map((component) => [component.id, component.name]));
  }

  /** Versions (as uploaded) by artifact id (for features that keep artifact ids). */
  async versionNames(artifactIds: string[]): Promise<Map<string, string>> {
    const artifacts = await this.repository.artifactsByIds([...new Set(artifactIds)]);
    return new Map(artifacts.map((artifact) => [artifact.id, artifact.version]));
  }

  async listComponents(): Promise<{ name: string; createdAt: Date; versions: number; latestVersion: string | null; channels: string[] }[]> {
    const [components, artifacts, channels] = await Promise.all([this.repository.listComponents(), this.repository.listVersions(), this.channelPointers({})]);
    return components.map((component) => {
      const versions = artifacts.filter((a) => a.componentId === component.id).map((a) => parseVersion(a.version));
      versions.sort(compareVersions);
      return {
        name: component.name,
        createdAt: component.createdAt,
        versions: versions.length,
        latestVersion: versions.at(-1)?.raw ?? null,
        channels: channels.filter((c) => c.componentId === component.id).map((c) => c.name),
      };
    });
  }

  /** Every version of a component, newest first, with the channels that point at it. */
  async listVersions(componentName: string): Promise<(ArtifactView & { channels: string[] })[]> {
    const component = await this.requireComponent(componentName);
    const [artifacts, channels] = await Promise.all([this.repository.artifactsOf(component.id), this.channelPointers({ componentId: component.id })]);
    artifacts.sort((a, b) => compareVersions(parseVersion(b.version), parseVersion(a.version)));
    return artifacts.map((artifact) => ({
      ...artifactView(component, artifact),
      channels: channels.filter((c) => c.artifactId === artifact.id).map((c) => c.name),
    }));
  }

  async getVersion(componentName: string, version: string): Promise<ArtifactView & { channels: string[] }> {
    const { component, artifact } = await this.requireArtifact(componentName, version);
    const channels = await this.channelPointers({ artifactId: artifact.id });
    return { ...artifactView(component, artifact), channels: channels.map((c) => c.name) };
  }

  /**
   * Deletes a version nothing uses (no channel points at it, no active rollout ships it: see
   * {@link registerUsage}); its bytes go when no other version shares them.
   */
  async deleteVersion(componentName: string, version: string): Promise<void> {
    const sha256 = await this.unitOfWork.run(async () => {
      // Waits for whoever is pointing a channel or a rollout at it; the checks below then see their commit.
      const { component, artifact } = await this.lockedArtifact(componentName, version, 'delete');
      await this.repository.lockContent(artifact.sha256);
      for (const check of this.usageChecks) {
        const usage = await check(artifact.id);
        if (usage !== undefined) throw conflict(`${component.name} ${artifact.version} ${usage}`);
      }
      await this.repository.deleteArtifact(artifact.id);
      await this.catalog.changed();
      return artifact.sha256;
    });
    await this.removeIfUnreferenced(sha256);
  }

  /**
   * The stored binary known by this SHA-256 (lower-case hex), if any version has it. The in-memory
   * catalog answers, so downloads need no query and go on while the database is down. Only a hash
   * it does not list is looked up (another replica may have stored it a moment ago, and its
   * notification is on its way); when the database cannot be asked, the catalog's answer stands.
   */
  async findBySha256(sha256: string): Promise<StoredBinary | undefined> {
    const known = this.catalog.binary(sha256);
    if (known) return known;
    try {
      return await this.repository.firstWithContent(sha256);
    } catch (error) {
      if (isDatabaseUnavailable(error)) return undefined;
      throw error;
    }
  }

  /**
   * Removes temporary uploads that no running instance can own: left by a crash, they take space
   * until removed. With the embedded database this process holds the DATA_DIR lock, so every
   * upload in the filesystem store is an orphan. A bucket, or a DATA_DIR that replicas on external
   * PostgreSQL share without that lock, may hold another replica's upload in flight: there only
   * uploads older than UPLOAD_ORPHAN_AGE_SECONDS go, and S3 multipart uploads started before it
   * are aborted (their parts take space without showing as objects).
   */
  private async removeOrphanUploads(): Promise<void> {
    const ownsEveryUpload = this.store.kind === 'filesystem' && this.config.usesEmbeddedDatabase;
    const cutoff = new Date(Date.now() - this.config.uploadOrphanAgeSeconds * 1000);
    let removed = 0;
    try {
      for await (const object of this.store.list(UPLOADS_PREFIX)) {
        if (ownsEveryUpload || object.modifiedAt < cutoff) {
          await this.store.remove(object.key);
          removed++;
        }
      }
    } catch (error) {
      this.logger.warn(`could not remove orphan uploads: ${String(error)}`);
    }
    let aborted = 0;
    try {
      aborted = await this.store.abortIncompleteWrites(UPLOADS_PREFIX, ownsEveryUpload ? new Date() : cutoff);
    } catch (error) {
      this.logger.warn(`could not abort incomplete multipart uploads: ${String(error)}`);
    }
    if (removed + aborted > 0) this.logger.log(`removed ${removed} orphan upload(s) and aborted ${aborted} incomplete multipart upload(s) left by an earlier run`);
  }
}
