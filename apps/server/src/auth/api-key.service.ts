import { Injectable, Logger, type OnApplicationBootstrap } from '@nestjs/common';
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { conflict, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { type ApiKeyEntity, type ApiKeyScope } from './api-key.entity';
import { ApiKeyRepository } from './api-key.repository';

const SCOPE_RANK: Record<ApiKeyScope, number> = { read: 1, write: 2, admin: 3 };
const LAST_USED_RESOLUTION_MS = 60_000;
const ENVIRONMENT_KEY_NAME = 'ADMIN_API_KEY (environment)';
const GENERATED_KEY_NAME = 'initial admin key';

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
    private readonly keys: ApiKeyRepository,
    private readonly unitOfWork: UnitOfWork,
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
    const generated = await this.unitOfWork.run(async () => {
      await this.keys.lockKeyChanges();
      if (this.config.adminApiKey) {
        const keyHash = hashApiKey(this.config.adminApiKey);
        const existing = await this.keys.findByHash(keyHash);
        if (existing?.revokedAt) {
          this.logger.warn('ADMIN_API_KEY was revoked through the API and stays revoked; set a new one to seed it');
        } else if (!existing) {
          await this.keys.revokeByName(ENVIRONMENT_KEY_NAME, new Date());
          await this.keys.add({ name: ENVIRONMENT_KEY_NAME, scope: 'admin', keyHash });
        }
        return undefined;
      }
      const admins = await this.keys.countActiveAdmins();
      if (admins > 0) return undefined;
      const key = this.newKeySecret();
      await this.keys.add({ name: GENERATED_KEY_NAME, scope: 'admin', keyHash: hashApiKey(key) });
      return key;
    });
    if (generated) {
      const file = join(this.config.dataDir, 'initial-admin-key');
      await writeFile(file, `${generated}\n`, { mode: 0o600 }).catch(() => undefined);
      this.logger.warn(`No ADMIN_API_KEY was set and no admin key existed: generated one. It is shown this once and saved in ${file}:\n\n    ${generated}\n`);
    }
  }

  private newKeySecret(): string {
    return `ota_${randomBytes(32).toString('base64url')}`;
  }

  /** Answers the key a bearer token belongs to, or undefined for an unknown or revoked one. */
  async authenticate(token: string): Promise<AuthenticatedKey | undefined> {
    const key = await this.keys.findByHash(hashApiKey(token));
    if (!key || key.revokedAt) return undefined;
    if (!key.lastUsedAt || Date.now() - key.lastUsedAt.getTime() > LAST_USED_RESOLUTION_MS) {
      await this.keys.markUsed(key.id, new Date());
    }
    return { id: key.id, name: key.name, scope: key.scope };
  }

  async create(name: string, scope: ApiKeyScope): Promise<ApiKeyView & { key: string }> {
    const key = this.newKeySecret();
    const id = await this.keys.add({ name, scope, keyHash: hashApiKey(key) });
    const saved = await this.keys.get(id);
    return { ...view(saved), key };
  }

  async list(): Promise<ApiKeyView[]> {
    const keys = await this.keys.listByAge();
    return keys.map(view);
  }

  /** Revokes a key at once. Refuses to revoke the last admin key, which would lock every operator out. */
  async revoke(id: string): Promise<void> {
    await this.unitOfWork.run(async () => {
      await this.keys.lockKeyChanges();
      const key = await this.keys.findById(id);
      if (!key || key.revokedAt) throw notFound(`API key ${id} does not exist or is already revoked`);
      if (key.scope === 'admin' && (await this.keys.countActiveAdmins()) <= 1) {
        throw conflict('this is the last admin key: create another admin key before revoking it');
      }
      await this.keys.revoke(id, new Date());
    });
  }
}
