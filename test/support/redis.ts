import { randomBytes } from 'node:crypto';

export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A key prefix of its own per test file, so parallel suites never share queues or channels. */
export function uniqueRedisPrefix(): string {
  return `ota-test-${randomBytes(4).toString('hex')}`;
}
