import { randomUUID } from 'node:crypto';
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { bigintAsNumber } from '../database/columns';
import { ComponentEntity } from './component.entity';

export type StorageTier = 'hot' | 'cold';

/** One version of a component's binary. Immutable; its bytes live in the object store at artifacts/<sha256>. */
@Entity('artifacts')
export class ArtifactEntity {
  @PrimaryColumn('uuid')
  id: string = randomUUID();

  @Column({ name: 'component_id', type: 'uuid' })
  componentId!: string;

  @ManyToOne(() => ComponentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'component_id' })
  component?: ComponentEntity;

  /** As the vendor wrote it. */
  @Column({ type: 'varchar', length: 64 })
  version!: string;

  /** Canonical form (see libs/resolver parseVersion): `1.0` and `1.0.0` are one version. */
  @Column({ name: 'version_key', type: 'varchar', length: 200 })
  versionKey!: string;

  @Column({ type: 'char', length: 64 })
  sha256!: string;

  @Column({ type: 'char', length: 32 })
  md5!: string;

  @Column({ type: 'bigint', transformer: bigintAsNumber })
  size!: number;

  @Column({ name: 'requires_from', type: 'varchar', length: 64, nullable: true })
  requiresFrom!: string | null;

  @Column({ type: 'text', nullable: true })
  notes!: string | null;

  /** Bytes per chunk of the signed manifest. */
  @Column({ name: 'chunk_size', type: 'integer' })
  chunkSize!: number;

  /** SHA-256 of every chunk, 32 bytes each, concatenated. Only loaded when a manifest is built. */
  @Column({ name: 'chunk_hashes', type: 'bytea', select: false })
  chunkHashes!: Buffer;

  @Column({ name: 'storage_tier', type: 'varchar', length: 8, default: 'hot' })
  storageTier!: StorageTier;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
