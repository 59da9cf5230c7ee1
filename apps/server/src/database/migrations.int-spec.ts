import { Logger } from '@nestjs/common';
import type { DataSource } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/postgres';
import { makeTempDir } from '@test/support/temp-dir';
import type { DatabaseSettings } from '../config/app-config';
import { openDataSource, revertLastMigration, runMigrations } from './data-source';
import { migrations } from './migrations';

async function tableNames(dataSource: DataSource): Promise<string[]> {
  const rows: { table_name: string }[] = await dataSource.query(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'migrations' ORDER BY table_name`,
  );
  return rows.map((row) => row.table_name);
}

// No application here: keep TypeORM's migration messages off the test output.
beforeAll(() => Logger.overrideLogger(false));

describe.each([
  ['PostgreSQL', 'postgres'],
  ['embedded PGlite', 'embedded'],
] as const)('migrations on %s', (_label, kind) => {
  let settings: DatabaseSettings;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    if (kind === 'postgres') {
      const database: TestDatabase = await createTestDatabase();
      settings = { kind: 'postgres', url: database.url };
      cleanup = database.drop;
    } else {
      const dir = makeTempDir();
      settings = { kind: 'embedded', dataDir: dir.path };
      cleanup = async () => dir.remove();
    }
  });

  afterAll(async () => cleanup());

  it('applies every migration, reverts them all, and applies them again', async () => {
    const dataSource = await openDataSource(settings);
    try {
      const applied = await runMigrations(dataSource);
      expect(applied).toEqual(migrations.map((migration) => new migration().name));
      expect(await tableNames(dataSource)).toEqual(expect.arrayContaining(['api_keys', 'artifacts', 'channels', 'components']));
      expect(await runMigrations(dataSource)).toEqual([]);

      for (let i = 0; i < migrations.length; i++) await revertLastMigration(dataSource);
      expect(await tableNames(dataSource)).toEqual([]);

      expect(await runMigrations(dataSource)).toHaveLength(migrations.length);
    } finally {
      await dataSource.destroy();
    }
  });
});
