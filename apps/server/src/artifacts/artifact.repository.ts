import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { DatabaseContext } from '../database/unit-of-work';
import { ArtifactEntity } from './artifact.entity';
import { ComponentEntity } from './component.entity';

/** What an upload stores about a new version; the id and creation time are the repository's. */
export type NewArtifact = Pick<ArtifactEntity, 'componentId' | 'version' | 'versionKey' | 'sha256' | 'md5' | 'size' | 'requiresFrom' | 'notes' | 'chunkSize' | 'chunkHashes'>;

/**
 * How a read of an artifact holds its row until the surrounding unit of work commits: `reference`
 * only keeps it from being deleted (FOR KEY SHARE), `delete` takes it exclusively (FOR UPDATE).
 */
export type ArtifactLock = 'reference' | 'delete';

/** The components and artifacts tables. Every call joins the surrounding unit of work. */
@Injectable()
export class ArtifactRepository {
  constructor(private readonly context: DatabaseContext) {}

  private get components() {
    return this.context.repository(ComponentEntity);
  }

  private get artifacts() {
    return this.context.repository(ArtifactEntity);
  }

  /**
   * Serialises everything that adds or removes the stored object of one content hash, until the
   * surrounding unit of work ends.
   */
  async lockContent(sha256: string): Promise<void> {
    await this.context.manager.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 7))', [sha256]);
  }

  /** The component with this name in any letter case. */
  async findComponent(name: string): Promise<ComponentEntity | undefined> {
    const found = await this.components.createQueryBuilder('c').where('lower(c.name) = lower(:name)', { name }).getOne();
    return found ?? undefined;
  }

  async addComponent(name: string): Promise<ComponentEntity> {
    const component = Object.assign(new ComponentEntity(), { name });
    await this.components.insert(component);
    return this.components.findOneByOrFail({ id: component.id });
  }

  /** Every component, by name. */
  listComponents(): Promise<ComponentEntity[]> {
    return this.components.find({ order: { name: 'ASC' } });
  }

  componentsByIds(ids: string[]): Promise<ComponentEntity[]> {
    return ids.length > 0 ? this.components.findBy({ id: In(ids) }) : Promise.resolve([]);
  }

  /**
   * The artifact of a component at a canonical version. `lock` applies only inside a unit of
   * work; a lock that had to wait for a delete finds nothing.
   */
  async findArtifact(componentId: string, versionKey: string, lock?: ArtifactLock): Promise<ArtifactEntity | undefined> {
    const artifact = await this.artifacts.findOne({
      where: { componentId, versionKey },
      lock: lock && this.context.inTransaction ? { mode: lock === 'delete' ? 'pessimistic_write' : 'for_key_share' } : undefined,
    });
    return artifact ?? undefined;
  }

  /** Stores a new version and answers it as read back (with its creation time). */
  async addArtifact(fields: NewArtifact): Promise<ArtifactEntity> {
    const artifact = Object.assign(new ArtifactEntity(), fields);
    await this.artifacts.insert(artifact);
    return this.artifacts.findOneByOrFail({ id: artifact.id });
  }

  async deleteArtifact(id: string): Promise<void> {
    await this.artifacts.delete({ id });
  }

  /** The component and version of every artifact, for counting and finding the latest. */
  listVersions(): Promise<Pick<ArtifactEntity, 'componentId' | 'version'>[]> {
    return this.artifacts.find({ select: { componentId: true, version: true } });
  }

  artifactsOf(componentId: string): Promise<ArtifactEntity[]> {
    return this.artifacts.findBy({ componentId });
  }

  artifactsByIds(ids: string[]): Promise<ArtifactEntity[]> {
    return ids.length > 0 ? this.artifacts.findBy({ id: In(ids) }) : Promise.resolve([]);
  }

  /** How many versions store these bytes. */
  countWithContent(sha256: string): Promise<number> {
    return this.artifacts.countBy({ sha256 });
  }

  /** The first stored version with these bytes (oldest, then lowest id). */
  async firstWithContent(sha256: string): Promise<ArtifactEntity | undefined> {
    const artifact = await this.artifacts.findOne({ where: { sha256 }, order: { createdAt: 'ASC', id: 'ASC' } });
    return artifact ?? undefined;
  }
}
