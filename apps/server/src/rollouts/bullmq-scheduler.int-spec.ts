import { testRedisUrl, uniqueRedisPrefix } from '@test/support/redis';
import { failingTicks } from '@test/support/scheduler';
import { until } from '@test/support/wait';
import { conflict, notFound } from '../common/domain-error';
import { BullMqRolloutScheduler } from './bullmq-scheduler';

describe(BullMqRolloutScheduler.name, () => {
  let scheduler: BullMqRolloutScheduler;

  afterEach(async () => scheduler?.stop());

  it.each([
    ['NotFound', notFound],
    ['Conflict', conflict],
  ])('fails a tick that throws %s for good at the first attempt, and records it', async (_code, fault) => {
    const ticks = failingTicks((tick) => fault(`tick ${tick} refused`));
    scheduler = new BullMqRolloutScheduler(testRedisUrl, uniqueRedisPrefix(), 200);
    await scheduler.start(ticks.callbacks);
    const failures = await until(
      async () => ticks.failures,
      (recorded) => recorded.length > 0,
      20_000,
    );
    expect(failures[0]).toContain('refused');
    expect(ticks.evaluationsOfFirstFailure()).toBe(1);
    expect(await scheduler.failedTicks()).toBeGreaterThanOrEqual(1);
  });
});
