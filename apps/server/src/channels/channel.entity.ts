import { randomUUID } from 'node:crypto';
import { Column, Entity, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { ArtifactEntity } from '../artifacts/artifact.entity';
import { ComponentEntity } from '../artifacts/component.entity';

/** A named track of a component (prod, beta) pointing at one artifact, plus the attribute flags that pull it in. */
@Entity('channels')
export class ChannelEntity {
  @PrimaryColumn('uuid')
  id: string = randomUUID();

  @Column({ name: 'component_id', type: 'uuid' })
  componentId!: string;

  @ManyToOne(() => ComponentEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'component_id' })
  component?: ComponentEntity;

  @Column({ type: 'varchar', length: 64 })
  name!: string;

  @Column({ name: 'artifact_id', type: 'uuid' })
  artifactId!: string;

  @ManyToOne(() => ArtifactEntity, { onDelete: 'RESTRICT' })
  @JoinColumn({ name: 'artifact_id' })
  artifact?: ArtifactEntity;

  /** Lower-cased attribute flags (`gamer`, `camera`). */
  @Column({ type: 'text', array: true, default: () => "'{}'" })
  attributes!: string[];

  @Column({ name: 'allow_downgrade', type: 'boolean', default: false })
  allowDowngrade!: boolean;

  @Column({ name: 'updated_at', type: 'timestamptz', default: () => 'now()' })
  updatedAt!: Date;
}
