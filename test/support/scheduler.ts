import type { SchedulerCallbacks } from '../../apps/server/src/rollouts/rollout-scheduler';

/**
 * Scheduler callbacks for one active rollout whose every evaluation throws `fault(tick)` (put the
 * tick in the message as `tick <id> `), counting evaluations per tick: how a driver treats a failing
 * tick, without a database.
 */
export function failingTicks(fault: (tick: string) => Error) {
  const evaluations = new Map<string, number>();
  const failures: string[] = [];
  const callbacks: SchedulerCallbacks = {
    evaluate: async (_rolloutId, tick) => {
      evaluations.set(tick, (evaluations.get(tick) ?? 0) + 1);
      throw fault(tick);
    },
    activeIds: async () => ['rollout-1'],
    failed: async (_rolloutId, error) => {
      failures.push(error);
    },
  };
  /** How often the tick named in the first failure the driver recorded was evaluated. */
  const evaluationsOfFirstFailure = () => evaluations.get(/tick (\S+) /.exec(failures[0] ?? '')?.[1] ?? '') ?? 0;
  return { callbacks, failures, evaluationsOfFirstFailure };
}
