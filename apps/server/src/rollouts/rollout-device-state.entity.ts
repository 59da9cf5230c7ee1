import { Column, Entity, PrimaryColumn } from 'typeorm';
import type { StatusState } from '../devices/status-report.entity';

/**
 * A device's latest state within one rollout, and the phase it joined in (it stays counted there).
 * What a rollout's ticks are judged on; one row per device and rollout.
 */
@Entity('rollout_device_states')
export class RolloutDeviceStateEntity {
  @PrimaryColumn({ name: 'rollout_id', type: 'uuid' })
  rolloutId!: string;

  @PrimaryColumn({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: StatusState;

  @Column({ name: 'phase_index', type: 'integer' })
  phaseIndex!: number;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
