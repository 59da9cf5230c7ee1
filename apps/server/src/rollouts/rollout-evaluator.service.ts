import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ChannelService } from '../channels/channels.service';
import { UnitOfWork } from '../database/unit-of-work';
import { RolloutMetrics, type EvaluationOutcome } from './rollout-metrics';
import { nextStep, type RolloutStep } from './rollout-policy';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutTransitions, type TransitionEffects } from './rollout-transitions.service';
import type { RolloutEntity } from './rollout.entity';
import { RolloutRepository } from './rollout.repository';

export interface EvaluationResult {
  step: EvaluationOutcome;
  reason: string;
}

const SCHEDULER = 'scheduler';

/**
 * The tick engine: the scheduler (BullMQ or the in-process timer) calls {@link evaluate} for each
 * tick of each active rollout; what to do is decided by the pure {@link nextStep}, and done here.
 */
@Injectable()
export class RolloutEvaluator implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Rollouts');

  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly rollouts: RolloutRepository,
    private readonly transitions: RolloutTransitions,
    private readonly channels: ChannelService,
    private readonly scheduler: RolloutScheduler,
    private readonly metrics: RolloutMetrics,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.scheduler.start({
      evaluate: (id, tick) => this.evaluate(id, tick),
      activeIds: () => this.rollouts.tickingIds(),
      failed: (id, error) => this.recordFailedEvaluation(id, error),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.scheduler.stop();
  }

  /**
   * One tick of one rollout. `tick` names the scheduler's tick; a tick already evaluated (the same
   * job delivered twice, or two drivers racing) is skipped, so a transition never happens twice.
   */
  async evaluate(id: string, tick: string, now = new Date()): Promise<EvaluationResult> {
    const stopTimer = this.metrics.startEvaluation();
    const outcome = await this.unitOfWork.run(async (): Promise<EvaluationResult> => {
      const rollout = await this.rollouts.lockById(id);
      if (!rollout) return { step: 'gone', reason: 'rollout no longer exists' };
      if (rollout.lastTick === tick) return { step: 'skipped', reason: `tick ${tick} was evaluated already` };
      rollout.lastTick = tick;
      rollout.evaluations += 1;
      rollout.lastEvaluatedAt = now;
      const step = nextStep(rollout, await this.rollouts.phaseReports(rollout), now);
      await this.transitions.save(rollout, await this.apply(rollout, step, now));
      return { step: step.kind, reason: step.reason };
    });
    this.metrics.evaluated(outcome.step);
    stopTimer();
    return outcome;
  }

  private async apply(rollout: RolloutEntity, step: RolloutStep, now: Date): Promise<TransitionEffects> {
    const from = rollout.state;
    const previousPercent = rollout.phaseIndex >= 0 && rollout.state === 'running' ? rollout.phases[rollout.phaseIndex].percent : 0;
    switch (step.kind) {
      case 'wait':
        return { catalogChanged: false };
      case 'pause':
        rollout.state = 'paused';
        await this.transitions.record(rollout, from, step.reason, SCHEDULER);
        this.logger.warn(`rollout ${rollout.id} paused: ${step.reason}`);
        return { catalogChanged: true, schedule: 'untrack' };
      case 'start':
      case 'advance':
        rollout.state = 'running';
        rollout.phaseIndex = step.kind === 'start' ? 0 : step.toPhase;
        rollout.phaseStartedAt = now;
        rollout.failuresSince = now;
        await this.transitions.record(rollout, from, step.reason, SCHEDULER);
        return { catalogChanged: true, announce: { percent: rollout.phases[rollout.phaseIndex].percent, previousPercent } };
      case 'complete':
        rollout.state = 'completed';
        rollout.finishedAt = now;
        // The rollout owns its channel's pointer: the channels feature moves it, without asking its move guards.
        await this.channels.pointAt(rollout.channelId, rollout.artifactId, now);
        await this.transitions.record(rollout, from, step.reason, SCHEDULER);
        return { catalogChanged: true, schedule: 'untrack', announce: { percent: 100, previousPercent } };
    }
  }

  /** Called by the scheduler when a tick's evaluation keeps failing: the history shows it. */
  async recordFailedEvaluation(id: string, error: string): Promise<void> {
    const reason = `evaluation failed after retries: ${error.slice(0, 500)}`;
    await this.unitOfWork.run(async () => {
      const rollout = await this.rollouts.findById(id);
      if (!rollout) return;
      // A rollout that keeps failing would fill its history with one line per tick: say it once.
      const last = await this.rollouts.lastEvent(id);
      if (last?.reason !== reason) await this.transitions.record(rollout, rollout.state, reason, SCHEDULER);
    });
  }
}
