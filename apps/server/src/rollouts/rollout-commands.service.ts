import { Injectable } from '@nestjs/common';
import { ArtifactService } from '../artifacts/artifacts.service';
import { ChannelService } from '../channels/channels.service';
import { conflict, invalidInput } from '../common/domain-error';
import { UnitOfWork } from '../database/unit-of-work';
import { RolloutEvaluator } from './rollout-evaluator.service';
import { ACTIVE_STATES, phaseProblems, type RolloutState } from './rollout-policy';
import { RolloutQueries } from './rollout-queries.service';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutTransitions, type TransitionEffects } from './rollout-transitions.service';
import { RolloutEntity } from './rollout.entity';
import { RolloutRepository } from './rollout.repository';
import type { CreateRolloutDto, RolloutResponse } from './rollouts.dto';

const DEFAULT_JITTER_SECONDS = 60;
const MAX_SELECTORS = 16;

/** Problems with a new rollout's phases and selectors, for a clear 400 (the DTO checks the rest). */
export function rolloutProblems(dto: CreateRolloutDto): string[] {
  const problems = phaseProblems(dto.phases);
  const selectorEntries = Object.entries(dto.selectors ?? {});
  if (selectorEntries.length > MAX_SELECTORS) problems.push(`at most ${MAX_SELECTORS} selectors`);
  for (const [key, value] of selectorEntries) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key) || typeof value !== 'string' || value.length === 0 || value.length > 256) {
      problems.push(`selector ${key.slice(0, 64)} must be an attribute name with a string value (1-256 characters)`);
    }
  }
  return problems;
}

/**
 * What operators do with rollouts: create one on a channel, pause, resume and abort it. Each
 * answers the rollout as it is afterwards. Every change of what a rollout offers is a catalog
 * change, so every replica's cached decisions follow.
 */
@Injectable()
export class RolloutCommands {
  constructor(
    private readonly unitOfWork: UnitOfWork,
    private readonly rollouts: RolloutRepository,
    private readonly transitions: RolloutTransitions,
    private readonly artifacts: ArtifactService,
    private readonly channels: ChannelService,
    private readonly scheduler: RolloutScheduler,
    private readonly evaluator: RolloutEvaluator,
    private readonly queries: RolloutQueries,
  ) {}

  async create(dto: CreateRolloutDto, actor: string): Promise<RolloutResponse> {
    const problems = rolloutProblems(dto);
    if (problems.length > 0) throw invalidInput(problems.join('; '));
    const startAt = dto.startAt ? new Date(dto.startAt) : new Date();

    const id = await this.unitOfWork.run(async () => {
      // Locked until commit: two rollouts created on one channel at once are decided in turn.
      const channel = await this.channels.lockForRollout(dto.component, dto.channel);
      const { artifact } = await this.artifacts.requireArtifact(channel.component, dto.version);
      if (artifact.id === channel.artifactId) throw conflict(`channel ${channel.name} already points at ${artifact.version}: nothing to roll out`);
      const active = await this.rollouts.findActiveOnChannel(channel.id);
      if (active) throw conflict(`rollout ${active.id} is already ${active.state} on ${channel.component}/${channel.name}; pause it, finish it or abort it first`);

      const rollout = Object.assign(new RolloutEntity(), {
        componentId: channel.componentId,
        channelId: channel.id,
        artifactId: artifact.id,
        fromArtifactId: channel.artifactId,
        selectors: dto.selectors ?? {},
        phases: dto.phases.map((phase) => ({ percent: phase.percent, holdSeconds: phase.holdSeconds })),
        maxFailureRate: dto.maxFailureRate,
        minReports: dto.minReports,
        startAt,
        maxDevicesPerMinute: dto.maxDevicesPerMinute ?? null,
        jitterSeconds: dto.jitterSeconds ?? DEFAULT_JITTER_SECONDS,
        state: 'scheduled' as RolloutState,
        phaseIndex: -1,
      });
      await this.rollouts.insert(rollout);
      await this.transitions.record(rollout, null, `created: ${dto.phases.map((p) => `${p.percent} %`).join(' → ')}, starting ${startAt.toISOString()}`, actor);
      return rollout.id;
    });
    await this.scheduler.track(id);
    // Start at once when due, rather than a tick later.
    await this.evaluator.evaluate(id, `create:${id}`);
    return this.queries.get(id);
  }

  async pause(id: string, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (rollout) => {
      if (rollout.state !== 'running' && rollout.state !== 'scheduled') throw conflict(`rollout ${id} is ${rollout.state}; only a scheduled or running rollout can be paused`);
      const from = rollout.state;
      rollout.state = 'paused';
      await this.transitions.record(rollout, from, 'paused by an operator', actor);
      return { catalogChanged: from === 'running', schedule: 'untrack' };
    });
    return this.queries.get(id);
  }

  async resume(id: string, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (rollout) => {
      if (rollout.state !== 'paused') throw conflict(`rollout ${id} is ${rollout.state}; only a paused rollout can be resumed`);
      const now = new Date();
      rollout.state = rollout.phaseIndex < 0 ? 'scheduled' : 'running';
      // The phase starts its hold again, and its failure rate counts what happens from now on.
      if (rollout.phaseIndex >= 0) {
        rollout.phaseStartedAt = now;
        rollout.failuresSince = now;
        rollout.resumedAt = now;
      }
      await this.transitions.record(rollout, 'paused', 'resumed by an operator; failures are counted afresh from now', actor);
      return { catalogChanged: rollout.state === 'running', schedule: 'track' };
    });
    return this.queries.get(id);
  }

  async abort(id: string, rollback: boolean, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (rollout) => {
      if (!ACTIVE_STATES.includes(rollout.state)) throw conflict(`rollout ${id} is ${rollout.state} already`);
      const from = rollout.state;
      rollout.state = 'aborted';
      rollout.finishedAt = new Date();
      // The channel still points at the old version; letting it downgrade brings updated devices back.
      if (rollback) await this.channels.allowDowngrade(rollout.channelId);
      await this.transitions.record(
        rollout,
        from,
        rollback
          ? 'aborted with rollback: devices that installed the new version are offered the channel’s version again'
          : 'aborted: devices that installed the new version keep it',
        actor,
      );
      return { catalogChanged: true, schedule: 'untrack' };
    });
    return this.queries.get(id);
  }

  /** Locks the rollout, lets `change` modify it, and saves it with what follows. */
  private async transition(id: string, change: (rollout: RolloutEntity) => Promise<TransitionEffects>): Promise<void> {
    await this.unitOfWork.run(async () => {
      const rollout = await this.transitions.lock(id);
      await this.transitions.save(rollout, await change(rollout));
    });
  }
}
