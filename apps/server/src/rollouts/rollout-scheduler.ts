/** Evaluates one tick of one rollout; `tick` identifies the tick so it is evaluated at most once. */
export type Evaluate = (rolloutId: string, tick: string) => Promise<unknown>;

export interface SchedulerCallbacks {
  evaluate: Evaluate;
  /** Rollouts that need ticks (scheduled or running). */
  activeIds: () => Promise<string[]>;
  /** A tick kept failing after its retries. */
  failed: (rolloutId: string, error: string) => Promise<void>;
}

/**
 * What drives rollout ticks: BullMQ on Redis (several replicas, one evaluation per tick, survives
 * restarts), or an in-process timer (the embedded single instance). Both call the same evaluation.
 */
export abstract class RolloutScheduler {
  abstract start(callbacks: SchedulerCallbacks): Promise<void>;
  /** The rollout needs ticks from now on (created, resumed). */
  abstract track(rolloutId: string): Promise<void>;
  /** The rollout needs no more ticks (paused, completed, aborted). */
  abstract untrack(rolloutId: string): Promise<void>;
  abstract stop(): Promise<void>;
  /** Ticks whose evaluation failed for good, for /metrics. */
  abstract failedTicks(): Promise<number>;
}
