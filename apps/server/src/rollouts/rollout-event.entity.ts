import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';
import type { RolloutState } from './rollout-policy';

/** One transition (or notable failure) in a rollout's history. */
@Entity('rollout_events')
export class RolloutEventEntity {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'rollout_id', type: 'uuid' })
  rolloutId!: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  at!: Date;

  @Column({ name: 'from_state', type: 'varchar', length: 12, nullable: true })
  fromState!: RolloutState | null;

  @Column({ name: 'to_state', type: 'varchar', length: 12 })
  toState!: RolloutState;

  @Column({ name: 'phase_index', type: 'integer' })
  phaseIndex!: number;

  @Column({ type: 'integer', nullable: true })
  percent!: number | null;

  @Column({ type: 'text' })
  reason!: string;

  @Column({ type: 'varchar', length: 120 })
  actor!: string;
}
