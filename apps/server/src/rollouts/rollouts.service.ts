import { parseVersion } from '@app/resolver';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { Counter, Histogram } from 'prom-client';
import { DataSource, In, type EntityManager } from 'typeorm';
import { ArtifactEntity } from '../artifacts/artifact.entity';
import { ArtifactService } from '../artifacts/artifacts.service';
import { ComponentEntity } from '../artifacts/component.entity';
import { bumpCatalogRevision } from '../catalog/catalog-revision';
import { CatalogService } from '../catalog/catalog.service';
import { ChannelEntity } from '../channels/channel.entity';
import { conflict, invalidInput, notFound } from '../common/domain-error';
import type { StatusReportDto } from '../devices/devices.dto';
import { DeviceService } from '../devices/devices.service';
import type { StatusState } from '../devices/status-report.entity';
import { MetricsService } from '../metrics/metrics.service';
import { AnnounceService } from '../mqtt/announce.service';
import { RolloutEventEntity } from './rollout-event.entity';
import { ACTIVE_STATES, nextStep, phaseProblems, type PhaseReports, type RolloutState, type RolloutStep } from './rollout-policy';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutEntity } from './rollout.entity';
import type { CreateRolloutDto, RolloutEventResponse, RolloutResponse, RolloutSummaryResponse } from './rollouts.dto';

const DEFAULT_JITTER_SECONDS = 60;
const MAX_SELECTORS = 16;
const HISTORY_LIMIT = 200;

export interface EvaluationResult {
  step: RolloutStep['kind'] | 'skipped' | 'gone';
  reason: string;
}

interface AfterCommit {
  catalogChanged: boolean;
  announce?: { percent: number; previousPercent: number };
  schedule?: 'track' | 'untrack';
}

const phaseNumber = (index: number) => Math.max(0, index + 1);

/**
 * Staged rollouts: create and steer them, and evaluate them tick by tick (the scheduler calls
 * {@link evaluate}; what to do is decided by the pure {@link nextStep}). Every change of what a
 * rollout offers bumps the catalog revision, so every replica's cached decision follows.
 */
@Injectable()
export class RolloutService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Rollouts');

  private readonly evaluations: Counter<'step'>;
  private readonly evaluationSeconds: Histogram;

  constructor(
    private readonly dataSource: DataSource,
    private readonly artifacts: ArtifactService,
    private readonly catalog: CatalogService,
    private readonly announcer: AnnounceService,
    private readonly scheduler: RolloutScheduler,
    devices: DeviceService,
    metrics: MetricsService,
  ) {
    devices.onStatusStored((manager, deviceId, report) => this.recordDeviceState(manager, deviceId, report));
    this.evaluations = new Counter({
      name: 'ota_rollout_evaluations_total',
      help: 'Rollout ticks evaluated by this replica, by outcome (skipped: a tick already evaluated elsewhere)',
      labelNames: ['step'],
      registers: [metrics.registry],
    });
    this.evaluationSeconds = new Histogram({
      name: 'ota_rollout_evaluation_seconds',
      help: 'Time of one rollout tick evaluation (lock, one aggregate query, decision, write)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [metrics.registry],
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    await this.scheduler.start({
      evaluate: (id, tick) => this.evaluate(id, tick),
      activeIds: () => this.activeIds(),
      failed: (id, error) => this.recordFailedEvaluation(id, error),
    });
  }

  async onApplicationShutdown(): Promise<void> {
    await this.scheduler.stop();
  }

  private async activeIds(): Promise<string[]> {
    const rows = await this.dataSource.getRepository(RolloutEntity).find({ select: { id: true }, where: { state: In(['scheduled', 'running']) } });
    return rows.map((row) => row.id);
  }

  async create(dto: CreateRolloutDto, actor: string): Promise<RolloutResponse> {
    const problems = phaseProblems(dto.phases);
    const selectors = dto.selectors ?? {};
    const selectorEntries = Object.entries(selectors);
    if (selectorEntries.length > MAX_SELECTORS) problems.push(`at most ${MAX_SELECTORS} selectors`);
    for (const [key, value] of selectorEntries) {
      if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key) || typeof value !== 'string' || value.length === 0 || value.length > 256) {
        problems.push(`selector ${key.slice(0, 64)} must be an attribute name with a string value (1-256 characters)`);
      }
    }
    if (problems.length > 0) throw invalidInput(problems.join('; '));
    const startAt = dto.startAt ? new Date(dto.startAt) : new Date();

    const id = await this.dataSource.transaction(async (manager) => {
      const component = await this.artifacts.requireComponent(dto.component, manager);
      const channel = await manager
        .getRepository(ChannelEntity)
        .createQueryBuilder('ch')
        .where('ch.component_id = :componentId AND lower(ch.name) = lower(:name)', { componentId: component.id, name: dto.channel })
        .setLock('pessimistic_write')
        .getOne();
      if (!channel) throw notFound(`${component.name} has no channel ${dto.channel.slice(0, 64)}; create it before rolling out on it`);
      const { artifact } = await this.artifacts.requireArtifact(component.name, dto.version, manager);
      if (artifact.id === channel.artifactId) throw conflict(`channel ${channel.name} already points at ${artifact.version}: nothing to roll out`);
      const active = await manager.getRepository(RolloutEntity).findOneBy({ channelId: channel.id, state: In([...ACTIVE_STATES]) });
      if (active) throw conflict(`rollout ${active.id} is already ${active.state} on ${component.name}/${channel.name}; pause it, finish it or abort it first`);

      const rollout = Object.assign(new RolloutEntity(), {
        componentId: component.id,
        channelId: channel.id,
        artifactId: artifact.id,
        fromArtifactId: channel.artifactId,
        selectors,
        phases: dto.phases.map((phase) => ({ percent: phase.percent, holdSeconds: phase.holdSeconds })),
        maxFailureRate: dto.maxFailureRate,
        minReports: dto.minReports,
        startAt,
        maxDevicesPerMinute: dto.maxDevicesPerMinute ?? null,
        jitterSeconds: dto.jitterSeconds ?? DEFAULT_JITTER_SECONDS,
        state: 'scheduled' as RolloutState,
        phaseIndex: -1,
      });
      await manager.getRepository(RolloutEntity).insert(rollout);
      await this.recordEvent(manager, rollout, null, `created: ${dto.phases.map((p) => `${p.percent} %`).join(' → ')}, starting ${startAt.toISOString()}`, actor);
      return rollout.id;
    });
    await this.scheduler.track(id);
    // Start at once when due, rather than a tick later.
    await this.evaluate(id, `create:${id}`);
    return this.get(id);
  }

  async list(state?: RolloutState): Promise<RolloutSummaryResponse[]> {
    const rollouts = await this.dataSource.getRepository(RolloutEntity).find({ where: state ? { state } : {}, order: { createdAt: 'DESC' }, take: 500 });
    const names = await this.names(rollouts);
    return rollouts.map((rollout) => this.summary(rollout, names));
  }

  async get(id: string): Promise<RolloutResponse> {
    const rollout = await this.dataSource.getRepository(RolloutEntity).findOneBy({ id });
    if (!rollout) throw notFound(`no rollout ${id}`);
    const [names, events, counts, phaseCounts, reports] = await Promise.all([
      this.names([rollout]),
      this.dataSource.getRepository(RolloutEventEntity).find({ where: { rolloutId: id }, order: { at: 'ASC', id: 'ASC' }, take: HISTORY_LIMIT }),
      this.countByState(id),
      rollout.phaseIndex >= 0 ? this.countByState(id, rollout.phaseIndex) : Promise.resolve({}),
      this.phaseReports(this.dataSource.manager, rollout),
    ]);
    return {
      ...this.summary(rollout, names),
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

  async pause(id: string, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (manager, rollout) => {
      if (rollout.state !== 'running' && rollout.state !== 'scheduled') throw conflict(`rollout ${id} is ${rollout.state}; only a scheduled or running rollout can be paused`);
      const from = rollout.state;
      rollout.state = 'paused';
      await this.recordEvent(manager, rollout, from, 'paused by an operator', actor);
      return { catalogChanged: from === 'running', schedule: 'untrack' };
    });
    return this.get(id);
  }

  async resume(id: string, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (manager, rollout) => {
      if (rollout.state !== 'paused') throw conflict(`rollout ${id} is ${rollout.state}; only a paused rollout can be resumed`);
      const now = new Date();
      rollout.state = rollout.phaseIndex < 0 ? 'scheduled' : 'running';
      // The phase starts its hold again, and its failure rate counts what happens from now on.
      if (rollout.phaseIndex >= 0) {
        rollout.phaseStartedAt = now;
        rollout.failuresSince = now;
        rollout.resumedAt = now;
      }
      await this.recordEvent(manager, rollout, 'paused', 'resumed by an operator; failures are counted afresh from now', actor);
      return { catalogChanged: rollout.state === 'running', schedule: 'track' };
    });
    return this.get(id);
  }

  async abort(id: string, rollback: boolean, actor: string): Promise<RolloutResponse> {
    await this.transition(id, async (manager, rollout) => {
      if (!ACTIVE_STATES.includes(rollout.state)) throw conflict(`rollout ${id} is ${rollout.state} already`);
      const from = rollout.state;
      rollout.state = 'aborted';
      rollout.finishedAt = new Date();
      if (rollback) {
        // The channel still points at the old version; letting it downgrade brings updated devices back.
        await manager.getRepository(ChannelEntity).update({ id: rollout.channelId }, { allowDowngrade: true, updatedAt: new Date() });
      }
      await this.recordEvent(
        manager,
        rollout,
        from,
        rollback ? 'aborted with rollback: devices that installed the new version are offered the channel’s version again' : 'aborted: devices that installed the new version keep it',
        actor,
      );
      return { catalogChanged: true, schedule: 'untrack' };
    });
    return this.get(id);
  }

  /**
   * One tick of one rollout. `tick` names the scheduler's tick; a tick already evaluated (the same
   * job delivered twice, or two drivers racing) is skipped, so a transition never happens twice.
   */
  async evaluate(id: string, tick: string, now = new Date()): Promise<EvaluationResult> {
    const stopTimer = this.evaluationSeconds.startTimer();
    let outcome: EvaluationResult = { step: 'gone', reason: 'rollout no longer exists' };
    await this.transition(
      id,
      async (manager, rollout) => {
        if (rollout.lastTick === tick) {
          outcome = { step: 'skipped', reason: `tick ${tick} was evaluated already` };
          return { catalogChanged: false, skipWrite: true };
        }
        rollout.lastTick = tick;
        rollout.evaluations += 1;
        rollout.lastEvaluatedAt = now;
        const step = nextStep(rollout, await this.phaseReports(manager, rollout), now);
        outcome = { step: step.kind, reason: step.reason };
        return this.apply(manager, rollout, step, now);
      },
      () => undefined,
    );
    this.evaluations.inc({ step: outcome.step });
    stopTimer();
    return outcome;
  }

  private async apply(manager: EntityManager, rollout: RolloutEntity, step: RolloutStep, now: Date): Promise<AfterCommit> {
    const from = rollout.state;
    const previousPercent = rollout.phaseIndex >= 0 && rollout.state === 'running' ? rollout.phases[rollout.phaseIndex].percent : 0;
    switch (step.kind) {
      case 'wait':
        return { catalogChanged: false };
      case 'pause':
        rollout.state = 'paused';
        await this.recordEvent(manager, rollout, from, step.reason, 'scheduler');
        this.logger.warn(`rollout ${rollout.id} paused: ${step.reason}`);
        return { catalogChanged: true, schedule: 'untrack' };
      case 'start':
      case 'advance':
        rollout.state = 'running';
        rollout.phaseIndex = step.kind === 'start' ? 0 : step.toPhase;
        rollout.phaseStartedAt = now;
        rollout.failuresSince = now;
        await this.recordEvent(manager, rollout, from, step.reason, 'scheduler');
        return { catalogChanged: true, announce: { percent: rollout.phases[rollout.phaseIndex].percent, previousPercent } };
      case 'complete':
        rollout.state = 'completed';
        rollout.finishedAt = now;
        await manager.getRepository(ChannelEntity).update({ id: rollout.channelId }, { artifactId: rollout.artifactId, updatedAt: now });
        await this.recordEvent(manager, rollout, from, step.reason, 'scheduler');
        return { catalogChanged: true, schedule: 'untrack', announce: { percent: 100, previousPercent } };
    }
  }

  /** Locks the rollout row, lets `change` modify it, saves, and then does what must follow a commit. */
  private async transition(
    id: string,
    change: (manager: EntityManager, rollout: RolloutEntity) => Promise<AfterCommit & { skipWrite?: boolean }>,
    onMissing: () => void = () => {
      throw notFound(`no rollout ${id}`);
    },
  ): Promise<void> {
    const done = await this.dataSource.transaction(async (manager) => {
      const rollout = await manager.getRepository(RolloutEntity).findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
      if (!rollout) {
        onMissing();
        return undefined;
      }
      const result = await change(manager, rollout);
      if (!result.skipWrite) {
        rollout.updatedAt = new Date();
        await manager.getRepository(RolloutEntity).save(rollout);
      }
      if (result.catalogChanged) await bumpCatalogRevision(manager);
      return { after: result, saved: rollout };
    });
    if (!done) return;
    const { after, saved } = done;
    if (after.catalogChanged) await this.catalog.refresh();
    if (after.schedule === 'track') await this.scheduler.track(id);
    if (after.schedule === 'untrack') await this.scheduler.untrack(id);
    if (after.announce) await this.announce(saved, after.announce.percent, after.announce.previousPercent);
  }

  /**
   * Tells devices a phase opened. With maxDevicesPerMinute, the jitter window grows so that the
   * newly invited share of the known fleet checks no faster than that.
   */
  private async announce(rollout: RolloutEntity, percent: number, previousPercent: number): Promise<void> {
    const names = await this.names([rollout]);
    let jitterSeconds = rollout.jitterSeconds;
    if (rollout.maxDevicesPerMinute) {
      const [{ count }] = (await this.dataSource.query(`SELECT count(*)::int AS count FROM devices`)) as { count: number }[];
      const invited = Math.ceil((count * (percent - previousPercent)) / 100);
      jitterSeconds = Math.max(jitterSeconds, Math.ceil((invited / rollout.maxDevicesPerMinute) * 60));
    }
    await this.announcer
      .announce({
        component: names.components.get(rollout.componentId) ?? '',
        channel: names.channels.get(rollout.channelId) ?? '',
        version: names.versions.get(rollout.artifactId) ?? '',
        selectors: rollout.selectors,
        maxCohort: percent,
        jitterSeconds,
      })
      .catch((error: unknown) => this.logger.error(`could not announce rollout ${rollout.id}: ${String(error)}`));
  }

  /** Called by the scheduler when a tick's evaluation keeps failing: the history shows it. */
  async recordFailedEvaluation(id: string, error: string): Promise<void> {
    const reason = `evaluation failed after retries: ${error.slice(0, 500)}`;
    await this.dataSource.transaction(async (manager) => {
      const rollout = await manager.getRepository(RolloutEntity).findOneBy({ id });
      if (!rollout) return;
      // A rollout that keeps failing would fill its history with one line per tick: say it once.
      const last = await manager.getRepository(RolloutEventEntity).findOne({ where: { rolloutId: id }, order: { at: 'DESC', id: 'DESC' } });
      if (last?.reason !== reason) await this.recordEvent(manager, rollout, rollout.state, reason, 'scheduler');
    });
  }

  private async recordEvent(manager: EntityManager, rollout: RolloutEntity, from: RolloutState | null, reason: string, actor: string): Promise<void> {
    await manager.getRepository(RolloutEventEntity).insert({
      rolloutId: rollout.id,
      fromState: from,
      toState: rollout.state,
      phaseIndex: rollout.phaseIndex,
      percent: rollout.phaseIndex >= 0 ? rollout.phases[rollout.phaseIndex].percent : null,
      reason,
      actor,
    });
  }

  /**
   * The one aggregate a tick needs: final and failed reports of the current phase, all and recent,
   * and of the whole rollout (what the last phase is judged on), in one pass over the rollout's
   * rows (the `(rollout_id, phase_index, state, updated_at)` index covers every column it reads).
   */
  private async phaseReports(manager: EntityManager, rollout: RolloutEntity): Promise<PhaseReports> {
    if (rollout.phaseIndex < 0) return { finals: 0, failures: 0, recentFinals: 0, recentFailures: 0, rolloutFinals: 0, rolloutFailures: 0 };
    const [row] = (await manager.query(
      `SELECT
         count(*) FILTER (WHERE phase_index = $2 AND state IN ('installed', 'failed', 'rolled_back'))::int AS finals,
         count(*) FILTER (WHERE phase_index = $2 AND state IN ('failed', 'rolled_back'))::int AS failures,
         count(*) FILTER (WHERE phase_index = $2 AND state IN ('installed', 'failed', 'rolled_back') AND updated_at >= $3)::int AS recent_finals,
         count(*) FILTER (WHERE phase_index = $2 AND state IN ('failed', 'rolled_back') AND updated_at >= $3)::int AS recent_failures,
         count(*) FILTER (WHERE state = 'installed' OR (state IN ('failed', 'rolled_back') AND updated_at >= $4))::int AS rollout_finals,
         count(*) FILTER (WHERE state IN ('failed', 'rolled_back') AND updated_at >= $4)::int AS rollout_failures
       FROM rollout_device_states WHERE rollout_id = $1`,
      [rollout.id, rollout.phaseIndex, rollout.failuresSince ?? new Date(0), rollout.resumedAt ?? new Date(0)],
    )) as { finals: number; failures: number; recent_finals: number; recent_failures: number; rollout_finals: number; rollout_failures: number }[];
    return {
      finals: row.finals,
      failures: row.failures,
      recentFinals: row.recent_finals,
      recentFailures: row.recent_failures,
      rolloutFinals: row.rollout_finals,
      rolloutFailures: row.rollout_failures,
    };
  }

  private async countByState(id: string, phaseIndex?: number): Promise<Partial<Record<StatusState, number>>> {
    const rows = (await this.dataSource.query(
      `SELECT state, count(*)::int AS count FROM rollout_device_states WHERE rollout_id = $1 ${phaseIndex === undefined ? '' : 'AND phase_index = $2'} GROUP BY state`,
      phaseIndex === undefined ? [id] : [id, phaseIndex],
    )) as { state: StatusState; count: number }[];
    return Object.fromEntries(rows.map((row) => [row.state, row.count]));
  }

  /**
   * Counts a device's report toward the rollout it belongs to: the one it names, or else the
   * running (or paused) rollout of that component whose version it reports. A device stays in the
   * phase it first reported in.
   */
  private async recordDeviceState(manager: EntityManager, deviceId: string, report: StatusReportDto): Promise<void> {
    const versionKey = parseVersion(report.version).key;
    await manager.query(
      `INSERT INTO rollout_device_states (rollout_id, device_id, state, phase_index, updated_at)
       SELECT r.id, $1, $2, GREATEST(r.phase_index, 0), now()
         FROM rollouts r
         JOIN artifacts a ON a.id = r.artifact_id
         JOIN components c ON c.id = r.component_id
        WHERE r.state IN ('running', 'paused')
          AND (r.id::text = $3 OR ($3 IS NULL AND lower(c.name) = lower($4) AND a.version_key = $5))
        ORDER BY r.created_at DESC
        LIMIT 1
       ON CONFLICT (rollout_id, device_id) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
      [deviceId, report.state, report.rolloutId ?? null, report.component, versionKey],
    );
  }

  private async names(rollouts: RolloutEntity[]) {
    const componentIds = [...new Set(rollouts.map((r) => r.componentId))];
    const channelIds = [...new Set(rollouts.map((r) => r.channelId))];
    const artifactIds = [...new Set(rollouts.flatMap((r) => [r.artifactId, r.fromArtifactId]))];
    const [components, channels, artifacts] = await Promise.all([
      componentIds.length ? this.dataSource.getRepository(ComponentEntity).findBy({ id: In(componentIds) }) : [],
      channelIds.length ? this.dataSource.getRepository(ChannelEntity).findBy({ id: In(channelIds) }) : [],
      artifactIds.length ? this.dataSource.getRepository(ArtifactEntity).findBy({ id: In(artifactIds) }) : [],
    ]);
    return {
      components: new Map(components.map((c) => [c.id, c.name])),
      channels: new Map(channels.map((c) => [c.id, c.name])),
      versions: new Map(artifacts.map((a) => [a.id, a.version])),
    };
  }

  private summary(rollout: RolloutEntity, names: Awaited<ReturnType<RolloutService['names']>>): RolloutSummaryResponse {
    return {
      id: rollout.id,
      component: names.components.get(rollout.componentId) ?? '',
      channel: names.channels.get(rollout.channelId) ?? '',
      version: names.versions.get(rollout.artifactId) ?? '',
      fromVersion: names.versions.get(rollout.fromArtifactId) ?? '',
      state: rollout.state,
      phase: phaseNumber(rollout.phaseIndex),
      percent: rollout.state === 'completed' ? 100 : rollout.phaseIndex >= 0 ? rollout.phases[rollout.phaseIndex].percent : 0,
      startAt: rollout.startAt,
      createdAt: rollout.createdAt,
      finishedAt: rollout.finishedAt,
    };
  }
}
