import { DataSource } from 'typeorm';
import type { TestApp } from './app';

/** What tests may do with a running appliance's database: look at rows no API shows, or inject a fault. */
export type TestSql = Pick<DataSource, 'query'>;

/**
 * The appliance's own database connection, for SQL a test needs; tests reach it through here so
 * that `typeorm` stays out of the feature folders (the lint rule allows it in repositories only).
 */
export function databaseOf(appliance: Pick<TestApp, 'app'>): TestSql {
  return appliance.app.get(DataSource);
}
