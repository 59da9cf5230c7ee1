import { mkdirSync } from 'node:fs';
import { DataSource, MigrationExecutor, type DataSourceOptions } from 'typeorm';
import type { DatabaseSettings } from '../config/app-config';
import { entities } from './entities';
import { migrations } from './migrations';
import { createPgliteDriver } from './pglite-pool';
import { TypeOrmLogger } from './typeorm-logger';

/** Any number that is ours alone: every replica waits on it before touching the schema. */
const MIGRATION_LOCK_ID = 0x07a_0001;

export function dataSourceOptions(settings: DatabaseSettings): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    entities,
    migrations,
    synchronize: false,
    migrationsRun: false,
    installExtensions: false,
    logger: new TypeOrmLogger(),
    maxQueryExecutionTime: 2000,
  };
  if (settings.kind === 'postgres') {
    // A database that does not answer must fail requests (and let MQTT status reports be retried), not hang them.
    return { ...common, url: settings.url, poolSize: 10, applicationName: 'ota-appliance', connectTimeoutMS: 5000 };
  }
  mkdirSync(settings.dataDir, { recursive: true });
  return { ...common, driver: createPgliteDriver({ dataDir: settings.dataDir }), poolSize: 1 };
}

/**
 * Applies pending migrations while holding a PostgreSQL advisory lock, so replicas that start
 * together migrate once and the others wait. Answers the names of the migrations applied.
 */
export async function runMigrations(dataSource: DataSource): Promise<string[]> {
  const runner = dataSource.createQueryRunner();
  try {
    await runner.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_ID]);
    try {
      const executor = new MigrationExecutor(dataSource, runner);
      executor.transaction = 'each';
      const applied = await executor.executePendingMigrations();
      return applied.map((migration) => migration.name);
    } finally {
      await runner.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_ID]);
    }
  } finally {
    await runner.release();
  }
}

/** Reverts the most recent migration; used by the migration tests and by operators rolling back. */
export async function revertLastMigration(dataSource: DataSource): Promise<void> {
  const runner = dataSource.createQueryRunner();
  try {
    const executor = new MigrationExecutor(dataSource, runner);
    executor.transaction = 'each';
    await executor.undoLastMigration();
  } finally {
    await runner.release();
  }
}

export async function openDataSource(settings: DatabaseSettings): Promise<DataSource> {
  const dataSource = new DataSource(dataSourceOptions(settings));
  await dataSource.initialize();
  return dataSource;
}
