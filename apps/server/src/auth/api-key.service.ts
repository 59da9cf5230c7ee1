import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DataSource, IsNull, type EntityManager } from 'typeorm';
import { conflict, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { ApiKeyEntity, type ApiKeyScope } from './api-key.entity';

const SCOPE_RANK: Record<ApiKeyScope, number> = { read: 1, write: 2, admin: 3 };
const LAST_USED_RESOLUTION_MS = 60_000;
const ENVIRONMENT_KEY_NAME = 'ADMIN_API_KEY (environment)';
const GENERATED_KEY_NAME = 'initial admin key';
const SEED_LOCK_ID = 0x07a_0002;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Whether a key with `held` scope may do what needs `required`: admin ⊃ write ⊃ read. */
export function scopeAllows(held: ApiKeyScope, required: ApiKeyScope): boolean {
  return SCOPE_RANK[held] >= SCOPE_RANK[required];
}

export interface ApiKeyView {
  id: string;
  name: string;
  scope: ApiKeyScope;
  createdAt: Date;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
}

export interface AuthenticatedKey {
  id: string;
  name: string;
  scope: ApiKeyScope;
}

function view(key: ApiKeyEntity): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    scope: key.scope,
    createdAt: key.createdAt,
    lastUsedAt: key.lastUsedAt,
    revokedAt: key.revokedAt,
  };
}

@Injectable()
export class ApiKeyService implements OnApplicationBootstrap {
  private readonly logger = new Logger(ApiKeyService.name);

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.seedAdminKey();
  }

  /**
   * Makes sure an admin can get in: ADMIN_API_KEY becomes an admin key; without it, a first start
   * with no admin key generates one, logs it once and leaves it in DATA_DIR/initial-admin-key (mode 0600).
   */
  async seedAdminKey(): Promise<void> {
    const generated = await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK_ID]);
      const keys = manager.getRepository(ApiKeyEntity);
      if (this.config.adminApiKey) {
        const keyHash = hashApiKey(this.config.adminApiKey);
        const existing = await keys.findOneBy({ keyHash });
        if (existing?.revokedAt) {
          this.logger.warn('ADMIN_API_KEY was revoked through the API and stays revoked; set a new one to seed it');
        } else if (!existing) {
          await this.revokeByName(manager, ENVIRONMENT_KEY_NAME);
          await keys.insert(Object.assign(new ApiKeyEntity(), { name: ENVIRONMENT_KEY_NAME, scope: 'admin', keyHash }));
        }
        return undefined;
      }
      const admins = await keys.countBy({ scope: 'admin', revokedAt: IsNull() });
      if (admins > 0) return undefined;
      const key = this.newKeySecret();
      await keys.insert(Object.assign(new ApiKeyEntity(), { name: GENERATED_KEY_NAME, scope: 'admin', keyHash: hashApiKey(key) }));
      return key;
    });
    if (generated) {
      const file = join(this.config.dataDir, 'initial-admin-key');
      await writeFile(file, `${generated}\n`, { mode: 0o600 }).catch(() => undefined);
      this.logger.warn(
        `No ADMIN_API_KEY was set and no admin key existed: generated one. It is shown this once and saved in ${file}:\n\n    ${generated}\n`,
      );
    }
  }

  private async revokeByName(manager: EntityManager, name: string): Promise<void> {
    await manager.getRepository(ApiKeyEntity).update({ name, revokedAt: IsNull() }, { revokedAt: new Date() });
  }

  private newKeySecret(): string {
    return `ota_${randomBytes(32).toString('base64url')}`;
  }

  /** Answers the key a bearer token belongs to, or undefined for an unknown or revoked one. */
  async authenticate(token: string): Promise<AuthenticatedKey | undefined> {
    const keys = this.dataSource.getRepository(ApiKeyEntity);
    const key = await keys.findOneBy({ keyHash: hashApiKey(token) });
    if (!key || key.revokedAt) return undefined;
    if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await keys.update({ id: key.id }, { lastUsedAt: new Date() });
    }
    return { id: key.id, name: key.name, scope: key.scope };
  }

  async create(name: string, scope: ApiKeyScope): Promise<ApiKeyView & { key: string }> {
    const key = this.newKeySecret();
    const entity = Object.assign(new ApiKeyEntity(), { name, scope, keyHash: hashApiKey(key) });
    await this.dataSource.getRepository(ApiKeyEntity).insert(entity);
    const saved = await this.dataSource.getRepository(ApiKeyEntity).findOneByOrFail({ id: entity.id });
    return { ...view(saved), key };
  }

  async list(): Promise<ApiKeyView[]> {
    const keys = await this.dataSource.getRepository(ApiKeyEntity).find({ order: { createdAt: 'ASC' } });
    return keys.map(view);
  }

  /** Revokes a key at once. Refuses to revoke the last admin key, which would lock every operator out. */
  async revoke(id: string): Promise<void> {
    await this.dataSource.transaction(async (manager) => {
      await manager.query('SELECT pg_advisory_xact_lock($1)', [SEED_LOCK_ID]);
      const keys = manager.getRepository(ApiKeyEntity);
      const key = await keys.findOneBy({ id });
      if (!key || key.revokedAt) throw notFound(`API key ${id} does not exist or is already revoked`);
      if (key.scope === 'admin' && (await keys.countBy({ scope: 'admin', revokedAt: IsNull() })) <= 1) {
        throw conflict('this is the last admin key: create another admin key before revoking it');
      }
      await keys.update({ id }, { revokedAt: new Date() });
    });
  }
}
