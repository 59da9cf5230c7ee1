import { Column, Entity, PrimaryColumn } from 'typeorm';

/** A peer agent in its site's roster, until `expiresAt` (it re-registers well before). */
@Entity('peer_roster')
export class PeerEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  site!: string;

  @PrimaryColumn({ name: 'peer_id', type: 'varchar', length: 128 })
  peerId!: string;

  /** libp2p multiaddrs the peer can be dialled at. */
  @Column({ type: 'text', array: true })
  addrs!: string[];

  @Column({ name: 'http_url', type: 'varchar', length: 512, nullable: true })
  httpUrl!: string | null;

  /** The registered device whose token registered this peer (DEVICE_AUTH=token), else null. */
  @Column({ name: 'device_id', type: 'varchar', length: 128, nullable: true })
  deviceId!: string | null;

  @Column({ name: 'last_seen', type: 'timestamptz' })
  lastSeen!: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt!: Date;
}
