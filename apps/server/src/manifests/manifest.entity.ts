import { Column, Entity, PrimaryColumn } from 'typeorm';

/**
 * The signed manifest of one content hash, stored once so that every replica serves the same
 * bytes. `manifest` is the RFC 8785 canonical JSON text that `signature` covers, kept as text
 * (jsonb would re-serialise it).
 */
@Entity('manifests')
export class ManifestEntity {
  @PrimaryColumn({ type: 'char', length: 64 })
  sha256!: string;

  /** The artifact the manifest names (the first stored with these bytes). */
  @Column({ name: 'artifact_id', type: 'uuid' })
  artifactId!: string;

  @Column({ name: 'key_id', type: 'char', length: 16 })
  keyId!: string;

  @Column({ type: 'text' })
  manifest!: string;

  /** Ed25519 signature over `manifest`, base64. */
  @Column({ type: 'text' })
  signature!: string;

  @Column({ name: 'created_at', type: 'timestamptz', default: () => 'now()' })
  createdAt!: Date;
}
