import { Client } from 'pg';
import { DataSource, QueryFailedError } from 'typeorm';
import { createTestDatabase, type TestDatabase } from '@test/support/postgres';
import { freePort } from '@test/support/process';
import { DomainError } from '../common/domain-error';
import { driverErrorCode, isDatabaseUnavailable, isForeignKeyViolation, isUniqueViolation, unavailableIfDatabaseDown } from './driver-errors';

/** Real errors from the driver and TypeORM, classified: an outage is retryable, a refused query is not. */
describe('database driver errors', () => {
  let database: TestDatabase;
  let dataSource: DataSource;

  const failure = async (work: () => Promise<unknown>): Promise<unknown> => {
    try {
      await work();
    } catch (error) {
      return error;
    }
    throw new Error('expected a failure');
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    dataSource = new DataSource({ type: 'postgres', url: database.url, poolSize: 2, connectTimeoutMS: 5000 });
    await dataSource.initialize();
    await dataSource.query(`CREATE TABLE parent (id int PRIMARY KEY); CREATE TABLE child (parent_id int REFERENCES parent (id))`);
  });

  afterAll(async () => {
    await dataSource?.destroy();
    await database?.drop();
  });

  it('reads SQLSTATEs through TypeORM’s QueryFailedError', async () => {
    await dataSource.query(`INSERT INTO parent VALUES (1)`);
    const duplicate = await failure(() => dataSource.query(`INSERT INTO parent VALUES (1)`));
    expect(duplicate).toBeInstanceOf(QueryFailedError);
    expect(isUniqueViolation(duplicate)).toBe(true);
    const orphan = await failure(() => dataSource.query(`INSERT INTO child VALUES (2)`));
    expect(isForeignKeyViolation(orphan)).toBe(true);
    const division = await failure(() => dataSource.query(`SELECT 1 / 0`));
    expect(driverErrorCode(division)).toBe('22012');
    for (const refused of [duplicate, orphan, division]) {
      expect(isDatabaseUnavailable(refused)).toBe(false);
      expect(unavailableIfDatabaseDown(refused, 'nothing happened')).toBe(refused);
    }
  });

  it('recognises a server that is not there', async () => {
    const client = new Client({ host: '127.0.0.1', port: await freePort(), user: 'postgres', database: 'postgres' });
    const refused = await failure(() => client.connect());
    expect(isDatabaseUnavailable(refused)).toBe(true);
    const mapped = unavailableIfDatabaseDown(refused, 'the report was not stored');
    expect(mapped).toBeInstanceOf(DomainError);
    expect(mapped).toMatchObject({ code: 'Unavailable', details: { retryAfterSeconds: expect.any(Number) } });
  });

  it('recognises a database that refuses connections, and connections cut by the server', async () => {
    const name = new URL(database.url).pathname.slice(1);
    const admin = new Client({ connectionString: database.url.replace(`/${name}`, '/postgres') });
    await admin.connect();
    const held = dataSource.createQueryRunner();
    try {
      await held.query(`SELECT 1`);
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
      await admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
      const cut = await failure(() => held.query(`SELECT 1`));
      const refused = await failure(() => dataSource.query(`SELECT 1`));
      expect(String(refused)).toMatch(/not currently accepting connections/);
      for (const error of [cut, refused]) expect({ error: String(error), unavailable: isDatabaseUnavailable(error) }).toMatchObject({ unavailable: true });
    } finally {
      await held.release().catch(() => undefined);
      await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
  });
});
