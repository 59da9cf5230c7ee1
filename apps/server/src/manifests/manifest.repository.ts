import { Injectable } from '@nestjs/common';
import { DatabaseContext } from '../database/unit-of-work';
import type { ManifestSource } from './manifest';

/** A signed manifest as stored. */
export interface StoredManifest {
  /** The canonical text the signature covers. */
  manifest: string;
  signature: string;
  keyId: string;
  /** The artifact the manifest names. */
  artifactId: string;
}

interface StoredManifestRow {
  manifest: string;
  signature: string;
  key_id: string;
  artifact_id: string;
}

interface ArtifactRow {
  id: string;
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: string | number;
  chunk_size: number;
  chunk_hashes: Uint8Array;
  created_at: Date | string;
}

/**
 * The manifests table, and the one read of the artifacts a manifest is built from (the first
 * stored with the hash, with its chunk hashes, which only a manifest needs). Every call joins the
 * surrounding unit of work.
 */
@Injectable()
export class ManifestRepository {
  constructor(private readonly context: DatabaseContext) {}

  /**
   * Waits until no other replica is building the manifest of this hash, and holds that until the
   * surrounding unit of work ends.
   */
  async lockHash(sha256: string): Promise<void> {
    await this.context.manager.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`manifest:${sha256}`]);
  }

  async find(sha256: string): Promise<StoredManifest | undefined> {
    const rows: StoredManifestRow[] = await this.context.manager.query(`SELECT manifest, signature, key_id, artifact_id FROM manifests WHERE sha256 = $1`, [sha256]);
    const row = rows[0];
    return row && { manifest: row.manifest, signature: row.signature, keyId: row.key_id, artifactId: row.artifact_id };
  }

  /** Stores the manifest of a hash, replacing one signed before (by a key since retired). */
  async store(sha256: string, manifest: StoredManifest): Promise<void> {
    await this.context.manager.query(
      `INSERT INTO manifests (sha256, artifact_id, key_id, manifest, signature) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (sha256) DO UPDATE SET artifact_id = EXCLUDED.artifact_id, key_id = EXCLUDED.key_id,
         manifest = EXCLUDED.manifest, signature = EXCLUDED.signature, created_at = now()`,
      [sha256, manifest.artifactId, manifest.keyId, manifest.manifest, manifest.signature],
    );
  }

  /** What the manifest of a hash is built from: the first stored artifact with it (oldest, then lowest id). */
  async source(sha256: string): Promise<(ManifestSource & { artifactId: string }) | undefined> {
    const artifacts: ArtifactRow[] = await this.context.manager.query(
      `SELECT a.id, c.name AS component, a.version, a.sha256, a.md5, a.size, a.chunk_size, a.chunk_hashes, a.created_at
         FROM artifacts a JOIN components c ON c.id = a.component_id
        WHERE a.sha256 = $1
        ORDER BY a.created_at ASC, a.id ASC
        LIMIT 1`,
      [sha256],
    );
    const artifact = artifacts[0];
    if (!artifact) return undefined;
    return {
      artifactId: artifact.id,
      component: artifact.component,
      version: artifact.version,
      sha256: artifact.sha256,
      md5: artifact.md5,
      size: Number(artifact.size),
      chunkSize: artifact.chunk_size,
      chunkHashes: artifact.chunk_hashes,
      createdAt: new Date(artifact.created_at),
    };
  }
}
