import { failingTicks } from '@test/support/scheduler';
import { until } from '@test/support/wait';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { InProcessRolloutScheduler } from './in-process-scheduler';

describe(InProcessRolloutScheduler.name, () => {
  let scheduler: InProcessRolloutScheduler;

  afterEach(async () => scheduler?.stop());

  /** Runs the driver until it records its first failed tick. */
  async function firstFailure(fault: (tick: string) => Error) {
    const ticks = failingTicks(fault);
    scheduler = new InProcessRolloutScheduler(20);
    await scheduler.start(ticks.callbacks);
    const failures = await until(
      async () => ticks.failures,
      (recorded) => recorded.length > 0,
      10_000,
      10,
    );
    await scheduler.stop();
    return { failure: failures[0], evaluations: ticks.evaluationsOfFirstFailure(), failedTicks: await scheduler.failedTicks() };
  }

  it.each([
    ['NotFound', notFound],
    ['InvalidInput', invalidInput],
    ['Conflict', conflict],
  ])('gives up at once on a tick that fails with %s: trying again cannot change the answer', async (_code, fault) => {
    const { failure, evaluations, failedTicks } = await firstFailure((tick) => fault(`tick ${tick} refused`));
    expect(failure).toContain('refused');
    expect(evaluations).toBe(1);
    expect(failedTicks).toBeGreaterThanOrEqual(1);
  });

  it('retries a tick the store could not serve (Unavailable) before recording it as failed', async () => {
    const { failure, evaluations } = await firstFailure((tick) => new DomainError('Unavailable', `tick ${tick} found the database unreachable`, { retryAfterSeconds: 5 }));
    expect(failure).toContain('unreachable');
    expect(evaluations).toBe(3);
  });

  it('retries a tick that fails for a reason it does not know (a fault of the database itself)', async () => {
    const { failure, evaluations } = await firstFailure((tick) => new Error(`tick ${tick} hit an injected failure`));
    expect(failure).toContain('injected failure');
    expect(evaluations).toBe(3);
  });
});
