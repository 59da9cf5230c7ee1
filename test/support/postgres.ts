import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Server the integration tests use; .ci/run passes its own, locally the machine's PostgreSQL. */
export const testPostgresUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

/** A throwaway database per test file, so parallel workers never see each other's rows. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `ota_test_${randomBytes(6).toString('hex')}`;
  const admin = new Client({ connectionString: testPostgresUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(testPostgresUrl, name),
    async drop() {
      const client = new Client({ connectionString: testPostgresUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
