import { Injectable } from '@nestjs/common';
import { ArtifactService } from '../artifacts/artifacts.service';
import { ChannelService } from '../channels/channels.service';
import { notFound } from '../common/domain-error';
import type { RolloutState } from './rollout-policy';
import type { RolloutEntity } from './rollout.entity';
import { RolloutRepository } from './rollout.repository';
import type { RolloutEventResponse, RolloutResponse, RolloutSummaryResponse } from './rollouts.dto';

const LIST_LIMIT = 500;
const HISTORY_LIMIT = 200;

/** What a rollout is called: its component, channel and versions by name ('' for one that is gone). */
export interface RolloutNames {
  component: string;
  channel: string;
  version: string;
  fromVersion: string;
}

const phaseNumber = (index: number) => Math.max(0, index + 1);

/** Rollouts as operators read them: listed, one in detail with its counts and history, and by name. */
@Injectable()
export class RolloutQueries {
  constructor(
    private readonly rollouts: RolloutRepository,
    private readonly artifacts: ArtifactService,
    private readonly channels: ChannelService,
  ) {}

  async list(state?: RolloutState): Promise<RolloutSummaryResponse[]> {
    const rollouts = await this.rollouts.list(state, LIST_LIMIT);
    const names = await this.names(rollouts);
    return rollouts.map((rollout) => this.summary(rollout, names(rollout)));
  }

  async get(id: string): Promise<RolloutResponse> {
    const rollout = await this.rollouts.findById(id);
    if (!rollout) throw notFound(`no rollout ${id}`);
    const [names, events, counts, phaseCounts, reports] = await Promise.all([
      this.names([rollout]),
      this.rollouts.history(id, HISTORY_LIMIT),
      this.rollouts.countByState(id),
      rollout.phaseIndex >= 0 ? this.rollouts.countByState(id, rollout.phaseIndex) : Promise.resolve({}),
      this.rollouts.phaseReports(rollout),
    ]);
    return {
      ...this.summary(rollout, names(rollout)),
      selectors: rollout.selectors,
      phases: rollout.phases,
      maxFailureRate: rollout.maxFailureRate,
      minReports: rollout.minReports,
      maxDevicesPerMinute: rollout.maxDevicesPerMinute,
      jitterSeconds: rollout.jitterSeconds,
      counts,
      phaseCounts,
      failureRate: reports.recentFinals > 0 ? reports.recentFailures / reports.recentFinals : null,
      evaluations: rollout.evaluations,
      lastEvaluatedAt: rollout.lastEvaluatedAt,
      history: events.map((event): RolloutEventResponse => ({
        at: event.at,
        fromState: event.fromState,
        toState: event.toState,
        phase: phaseNumber(event.phaseIndex),
        percent: event.percent,
        reason: event.reason,
        actor: event.actor,
      })),
    };
  }

  /** Looks up the names of the rollouts' components, channels and versions (three lookups in all), and names each rollout. */
  async names(rollouts: readonly RolloutEntity[]): Promise<(rollout: RolloutEntity) => RolloutNames> {
    const componentIds = [...new Set(rollouts.map((r) => r.componentId))];
    const channelIds = [...new Set(rollouts.map((r) => r.channelId))];
    const artifactIds = [...new Set(rollouts.flatMap((r) => [r.artifactId, r.fromArtifactId]))];
    const none = new Map<string, string>();
    const [components, channels, versions] = await Promise.all([
      componentIds.length ? this.artifacts.componentNames(componentIds) : none,
      channelIds.length ? this.channels.channelNames(channelIds) : none,
      artifactIds.length ? this.artifacts.versionNames(artifactIds) : none,
    ]);
    return (rollout) => ({
      component: components.get(rollout.componentId) ?? '',
      channel: channels.get(rollout.channelId) ?? '',
      version: versions.get(rollout.artifactId) ?? '',
      fromVersion: versions.get(rollout.fromArtifactId) ?? '',
    });
  }

  private summary(rollout: RolloutEntity, names: RolloutNames): RolloutSummaryResponse {
    return {
      id: rollout.id,
      component: names.component,
      channel: names.channel,
      version: names.version,
      fromVersion: names.fromVersion,
      state: rollout.state,
      phase: phaseNumber(rollout.phaseIndex),
      percent: rollout.state === 'completed' ? 100 : rollout.phaseIndex >= 0 ? rollout.phases[rollout.phaseIndex].percent : 0,
      startAt: rollout.startAt,
      createdAt: rollout.createdAt,
      finishedAt: rollout.finishedAt,
    };
  }
}
