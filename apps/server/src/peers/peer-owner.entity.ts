import { Column, Entity, PrimaryColumn } from 'typeorm';

/** The device a peer id belongs to in the site roster (DEVICE_AUTH=token): the first to register it, until an operator releases it. */
@Entity('peer_owners')
export class PeerOwnerEntity {
  @PrimaryColumn({ name: 'peer_id', type: 'varchar', length: 128 })
  peerId!: string;

  @Column({ name: 'device_id', type: 'varchar', length: 128 })
  deviceId!: string;

  @Column({ name: 'claimed_at', type: 'timestamptz', default: () => 'now()' })
  claimedAt!: Date;
}
