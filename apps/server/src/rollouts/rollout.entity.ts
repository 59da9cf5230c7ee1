import { randomUUID } from 'node:crypto';
import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { Phase, RolloutState } from './rollout-policy';

@Entity('rollouts')
export class RolloutEntity {
  @PrimaryColumn('uuid')
  id: string = randomUUID();

  @Column({ name: 'component_id', type: 'uuid' })
  componentId!: string;

  @Column({ name: 'channel_id', type: 'uuid' })
  channelId!: string;

  /** The version being rolled out. */
  @Column({ name: 'artifact_id', type: 'uuid' })
  artifactId!: string;

  /** What the channel pointed at when the rollout was created (what an aborted rollout goes back to). */
  @Column({ name: 'from_artifact_id', type: 'uuid' })
  fromArtifactId!: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  selectors!: Record<string, string>;

  @Column({ type: 'jsonb' })
  phases!: Phase[];

  @Column({ name: 'max_failure_rate', type: 'double precision' })
  maxFailureRate!: number;

  @Column({ name: 'min_reports', type: 'integer' })
  minReports!: number;

  @Column({ name: 'start_at', type: 'timestamptz' })
  startAt!: Date;

  @Column({ name: 'max_devices_per_minute', type: 'integer', nullable: true })
  maxDevicesPerMinute!: number | null;

  @Column({ name: 'jitter_seconds', type: 'integer' })
  jitterSeconds!: number;

  @Column({ type: 'varchar', length: 12 })
  state!: RolloutState;

  @Column({ name: 'phase_index', type: 'integer', default: -1 })
  phaseIndex!: number;

  @Column({ name: 'phase_started_at', type: 'timestamptz', nullable: true })
  phaseStartedAt!: Date | null;

  /** Failures are counted from here: the phase's start, or the last resume. */
  @Column({ name: 'failures_since', type: 'timestamptz', nullable: true })
  failuresSince!: Date | null;

  /**
   * The operator's last resume. Failures reported before it were accepted by it, so they no longer
   * count against completing the rollout (its last phase is judged on every phase's reports).
   */
  @Column({ name: 'resumed_at', type: 'timestamptz', nullable: true })
  resumedAt!: Date | null;

  @Column({ type: 'integer', default: 0 })
  evaluations!: number;

  /** The scheduler's id of the last tick evaluated, so one tick is never evaluated twice. */
  @Column({ name: 'last_tick', type: 'varchar', length: 200, nullable: true })
  lastTick!: string | null;

  @Column({ name: 'last_evaluated_at', type: 'timestamptz', nullable: true })
  lastEvaluatedAt!: Date | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;

  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt!: Date | null;
}
