import { Injectable } from '@nestjs/common';
import { CatalogService } from '../catalog/catalog.service';
import { notFound } from '../common/domain-error';
import { UnitOfWork } from '../database/unit-of-work';
import { RolloutPhaseAnnouncements } from './rollout-phase-announcements.service';
import type { RolloutState } from './rollout-policy';
import { RolloutScheduler } from './rollout-scheduler';
import type { RolloutEntity } from './rollout.entity';
import { RolloutRepository } from './rollout.repository';

/** What follows from a change of a rollout's state. */
export interface TransitionEffects {
  /** What the rollout offers devices changed: the catalog follows (every replica's). */
  catalogChanged: boolean;
  /** The rollout needs ticks from now on, or no more. */
  schedule?: 'track' | 'untrack';
  /** A phase opened: devices are told once the change is committed. */
  announce?: { percent: number; previousPercent: number };
}

/**
 * How a rollout's state changes, for the operator's commands and the scheduler's ticks alike:
 * inside a unit of work the rollout is locked, changed, written with a line of history, and what
 * must follow the commit (the catalog, the scheduler, the announcement) is arranged to follow it.
 */
@Injectable()
export class RolloutTransitions {
  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly rollouts: RolloutRepository,
    private readonly catalog: CatalogService,
    private readonly scheduler: RolloutScheduler,
    private readonly announcements: RolloutPhaseAnnouncements,
  ) {}

  /** The rollout, locked until the surrounding unit of work commits; NotFound when there is none. */
  async lock(id: string): Promise<RolloutEntity> {
    const rollout = await this.rollouts.lockById(id);
    if (!rollout) throw notFound(`no rollout ${id}`);
    return rollout;
  }

  /** Adds a line to the rollout's history: it went from `from` to its current state, and why. */
  async record(rollout: RolloutEntity, from: RolloutState | null, reason: string, actor: string): Promise<void> {
    await this.rollouts.addEvent({
      rolloutId: rollout.id,
      fromState: from,
      toState: rollout.state,
      phaseIndex: rollout.phaseIndex,
      percent: rollout.phaseIndex >= 0 ? rollout.phases[rollout.phaseIndex].percent : null,
      reason,
      actor,
    });
  }

  /** Writes the changed rollout in the surrounding unit of work, and arranges what follows its commit, in that order. */
  async save(rollout: RolloutEntity, effects: TransitionEffects): Promise<void> {
    rollout.updatedAt = new Date();
    await this.rollouts.save(rollout);
    // The catalog refreshes first: a device that hears the announcement checks against the new catalog.
    if (effects.catalogChanged) await this.catalog.changed();
    const { schedule, announce } = effects;
    if (!schedule && !announce) return;
    await this.unitOfWork.afterCommit(async () => {
      if (schedule === 'track') await this.scheduler.track(rollout.id);
      if (schedule === 'untrack') await this.scheduler.untrack(rollout.id);
      if (announce) await this.announcements.phaseOpened(rollout, announce.percent, announce.previousPercent);
    });
  }
}
