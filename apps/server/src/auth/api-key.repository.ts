import { Injectable } from '@nestjs/common';
import { IsNull } from 'typeorm';
import { DatabaseContext } from '../database/unit-of-work';
import { ApiKeyEntity, type ApiKeyScope } from './api-key.entity';

/** Serializes changes to the set of admin keys across replicas (seeding at start, revoking). */
const KEY_CHANGES_LOCK_ID = 0x07a_0002;

export interface NewApiKey {
  name: string;
  scope: ApiKeyScope;
  keyHash: string;
}

/** The api_keys table. Every call joins the surrounding unit of work. */
@Injectable()
export class ApiKeyRepository {
  constructor(private readonly context: DatabaseContext) {}

  private get keys() {
    return this.context.repository(ApiKeyEntity);
  }

  /**
   * Waits until no other replica is changing keys, and holds that until the surrounding unit of
   * work ends; only meaningful inside one.
   */
  async lockKeyChanges(): Promise<void> {
    await this.context.manager.query('SELECT pg_advisory_xact_lock($1)', [KEY_CHANGES_LOCK_ID]);
  }

  findById(id: string): Promise<ApiKeyEntity | null> {
    return this.keys.findOneBy({ id });
  }

  /** The key with this id; throws when there is none. */
  get(id: string): Promise<ApiKeyEntity> {
    return this.keys.findOneByOrFail({ id });
  }

  findByHash(keyHash: string): Promise<ApiKeyEntity | null> {
    return this.keys.findOneBy({ keyHash });
  }

  /** Adds a key and answers its id. */
  async add(key: NewApiKey): Promise<string> {
    const entity = Object.assign(new ApiKeyEntity(), key);
    await this.keys.insert(entity);
    return entity.id;
  }

  /** Every key, revoked ones too, oldest first. */
  listByAge(): Promise<ApiKeyEntity[]> {
    return this.keys.find({ order: { createdAt: 'ASC' } });
  }

  countActiveAdmins(): Promise<number> {
    return this.keys.countBy({ scope: 'admin', revokedAt: IsNull() });
  }

  async markUsed(id: string, at: Date): Promise<void> {
    await this.keys.update({ id }, { lastUsedAt: at });
  }

  async revoke(id: string, at: Date): Promise<void> {
    await this.keys.update({ id }, { revokedAt: at });
  }

  /** Revokes the unrevoked keys named `name`. */
  async revokeByName(name: string, at: Date): Promise<void> {
    await this.keys.update({ name, revokedAt: IsNull() }, { revokedAt: at });
  }
}
