import { Column, Entity, PrimaryColumn } from 'typeorm';

/** What a device last reported as installed, per component. */
@Entity('device_inventory')
export class DeviceInventoryEntity {
  @PrimaryColumn({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  component!: string;

  @Column({ type: 'varchar', length: 64 })
  version!: string;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
