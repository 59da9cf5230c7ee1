import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A device the appliance has heard from (status, MQTT) or that an operator registered. */
@Entity('devices')
export class DeviceEntity {
  @PrimaryColumn({ type: 'varchar', length: 128 })
  id!: string;

  @Column({ type: 'jsonb', default: () => "'{}'" })
  attributes!: Record<string, string>;

  /** SHA-256 of the device's token; null until registered (DEVICE_AUTH=token requires it). */
  @Column({ name: 'token_hash', type: 'char', length: 64, nullable: true })
  tokenHash!: string | null;

  @Column({ type: 'boolean', default: false })
  registered!: boolean;

  /**
   * The `site` attribute an operator registered the device with: its peer agent may register only
   * in this site's roster. Kept apart from `attributes`, which a device rewrites when it checks in.
   */
  @Column({ type: 'varchar', length: 256, nullable: true })
  site!: string | null;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;

  @Column({ name: 'last_seen_at', type: 'timestamptz', nullable: true })
  lastSeenAt!: Date | null;
}
