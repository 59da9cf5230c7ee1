import { Injectable } from '@nestjs/common';
import { In } from 'typeorm';
import { DatabaseContext } from '../database/unit-of-work';
import type { StatusState } from '../devices/status-report.entity';
import { RolloutDeviceStateEntity } from './rollout-device-state.entity';
import { RolloutEventEntity } from './rollout-event.entity';
import { ACTIVE_STATES, type PhaseReports, type RolloutState } from './rollout-policy';
import { RolloutEntity } from './rollout.entity';

/** States in which a rollout needs ticks. */
const TICKING_STATES: readonly RolloutState[] = ['scheduled', 'running'];

export type NewRolloutEvent = Pick<RolloutEventEntity, 'rolloutId' | 'fromState' | 'toState' | 'phaseIndex' | 'percent' | 'reason' | 'actor'>;

/** A device's status report as far as rollouts care. */
export interface DeviceStateReport {
  deviceId: string;
  state: StatusState;
  /** The rollout the device says offered the version, if it says. */
  rolloutId: string | null;
  component: string;
  /** The reported version's comparison key (the same spelling rules as artifacts'). */
  versionKey: string;
}

export interface DeviceStateCount {
  rolloutId: string;
  state: StatusState;
  phaseIndex: number;
  count: number;
}

const NO_REPORTS: PhaseReports = { finals: 0, failures: 0, recentFinals: 0, recentFailures: 0, rolloutFinals: 0, rolloutFailures: 0 };

/**
 * The rollouts feature's tables: rollouts, their history (rollout_events) and each device's state
 * within a rollout (rollout_device_states). Every call joins the surrounding unit of work.
 */
@Injectable()
export class RolloutRepository {
  constructor(private readonly context: DatabaseContext) {}

  private get rollouts() {
    return this.context.repository(RolloutEntity);
  }

  private get events() {
    return this.context.repository(RolloutEventEntity);
  }

  private get deviceStates() {
    return this.context.repository(RolloutDeviceStateEntity);
  }

  /** Rollouts that need ticks (scheduled or running). */
  async tickingIds(): Promise<string[]> {
    const rows = await this.rollouts.find({ select: { id: true }, where: { state: In([...TICKING_STATES]) } });
    return rows.map((row) => row.id);
  }

  findById(id: string): Promise<RolloutEntity | null> {
    return this.rollouts.findOneBy({ id });
  }

  /** The rollout, its row locked until the surrounding unit of work commits. */
  lockById(id: string): Promise<RolloutEntity | null> {
    return this.rollouts.findOne({ where: { id }, lock: { mode: 'pessimistic_write' } });
  }

  /** The rollout in flight (scheduled, running or paused) on a channel, if any. */
  findActiveOnChannel(channelId: string): Promise<RolloutEntity | null> {
    return this.rollouts.findOneBy({ channelId, state: In([...ACTIVE_STATES]) });
  }

  /** A rollout in flight that rolls a version out, or goes back to it, if any. */
  findActiveWithArtifact(artifactId: string): Promise<RolloutEntity | null> {
    const active = In([...ACTIVE_STATES]);
    return this.rollouts.findOne({
      where: [
        { artifactId, state: active },
        { fromArtifactId: artifactId, state: active },
      ],
    });
  }

  /** The newest rollouts first, optionally of one state. */
  list(state: RolloutState | undefined, limit: number): Promise<RolloutEntity[]> {
    return this.rollouts.find({ where: state ? { state } : {}, order: { createdAt: 'DESC' }, take: limit });
  }

  async insert(rollout: RolloutEntity): Promise<void> {
    await this.rollouts.insert(rollout);
  }

  async save(rollout: RolloutEntity): Promise<void> {
    await this.rollouts.save(rollout);
  }

  async addEvent(event: NewRolloutEvent): Promise<void> {
    await this.events.insert(event);
  }

  lastEvent(rolloutId: string): Promise<RolloutEventEntity | null> {
    return this.events.findOne({ where: { rolloutId }, order: { at: 'DESC', id: 'DESC' } });
  }

  /** The rollout's history, oldest first. */
  history(rolloutId: string, limit: number): Promise<RolloutEventEntity[]> {
    return this.events.find({ where: { rolloutId }, order: { at: 'ASC', id: 'ASC' }, take: limit });
  }

  /** Devices of the rollout (or of one of its phases) by their latest state. */
  async countByState(rolloutId: string, phaseIndex?: number): Promise<Partial<Record<StatusState, number>>> {
    const query = this.deviceStates.createQueryBuilder('s').select('s.state', 'state').addSelect('count(*)::int', 'count').where('s.rollout_id = :rolloutId', { rolloutId });
    if (phaseIndex !== undefined) query.andWhere('s.phase_index = :phaseIndex', { phaseIndex });
    const rows = await query.groupBy('s.state').getRawMany<{ state: StatusState; count: number }>();
    return Object.fromEntries(rows.map((row) => [row.state, row.count]));
  }

  /**
   * The one aggregate a tick needs: final and failed reports of the current phase, all and recent,
   * and of the whole rollout (what the last phase is judged on), in one pass over the rollout's
   * rows (the `(rollout_id, phase_index, state, updated_at)` index covers every column it reads).
   */
  async phaseReports(rollout: RolloutEntity): Promise<PhaseReports> {
    if (rollout.phaseIndex < 0) return { ...NO_REPORTS };
    const [row] = (await this.context.manager.query(
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

  /**
   * Counts a device's report toward the rollout it belongs to: the one it names, or else the
   * newest running (or paused) rollout of that component at the reported version, in one statement.
   * A device stays in the phase it first reported in.
   */
  async recordDeviceState(report: DeviceStateReport): Promise<void> {
    await this.context.manager.query(
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
      [report.deviceId, report.state, report.rolloutId, report.component, report.versionKey],
    );
  }

  /** Every rollout in flight (scheduled, running or paused). */
  listActive(): Promise<RolloutEntity[]> {
    return this.rollouts.findBy({ state: In([...ACTIVE_STATES]) });
  }

  /** Devices by rollout, latest state and phase, for the given rollouts. */
  async deviceStateCounts(rolloutIds: readonly string[]): Promise<DeviceStateCount[]> {
    if (rolloutIds.length === 0) return [];
    const rows = (await this.context.manager.query(
      `SELECT s.rollout_id, s.state, s.phase_index, count(*)::int AS count FROM rollout_device_states s
        WHERE s.rollout_id = ANY($1::uuid[]) GROUP BY s.rollout_id, s.state, s.phase_index`,
      [rolloutIds],
    )) as { rollout_id: string; state: StatusState; phase_index: number; count: number }[];
    return rows.map((row) => ({ rolloutId: row.rollout_id, state: row.state, phaseIndex: row.phase_index, count: row.count }));
  }
}
