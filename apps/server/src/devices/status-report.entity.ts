import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const STATUS_STATES = ['downloading', 'downloaded', 'installing', 'installed', 'failed', 'rolled_back'] as const;
export type StatusState = (typeof STATUS_STATES)[number];
/** States after which a device is done with an update, for better or worse. */
export const FINAL_STATES: readonly StatusState[] = ['installed', 'failed', 'rolled_back'];

@Entity('status_reports')
export class StatusReportEntity {
  /** A bigint in the database: ids stay strings here rather than risk a rounded number. */
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  @Column({ type: 'varchar', length: 64 })
  component!: string;

  @Column({ type: 'varchar', length: 64 })
  version!: string;

  @Column({ type: 'varchar', length: 16 })
  state!: StatusState;

  @Column({ type: 'text', nullable: true })
  detail!: string | null;

  @Column({ name: 'rollout_id', type: 'uuid', nullable: true })
  rolloutId!: string | null;

  @Column({ name: 'dedupe_key', type: 'char', length: 64 })
  dedupeKey!: string;

  @Column({ name: 'received_at', type: 'timestamptz', default: () => 'now()' })
  receivedAt!: Date;
}
