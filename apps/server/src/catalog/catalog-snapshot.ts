import type { CatalogComponent, CatalogRollout, CatalogSnapshot } from '@app/resolver';
import type { DataSource } from 'typeorm';

interface ArtifactRow {
  id: string;
  component: string;
  version: string;
  sha256: string;
  md5: string;
  size: string;
  requires_from: string | null;
  created_at: Date;
}

/**
 * One stored binary (content hash), as downloads and manifests need it without the database:
 * what its first stored artifact says. That one gives the binary its Last-Modified and is the
 * one its signed manifest names, until it is deleted.
 */
export interface CatalogBinary {
  sha256: string;
  size: number;
  createdAt: Date;
  /** The first stored artifact with these bytes (oldest, then lowest id). */
  artifactId: string;
}

/** A snapshot for device decisions, and the stored binaries by lower-case SHA-256. */
export interface LoadedCatalog {
  snapshot: CatalogSnapshot;
  binaries: ReadonlyMap<string, CatalogBinary>;
}

interface ChannelRow {
  component: string;
  name: string;
  version: string;
  attributes: string[];
  allow_downgrade: boolean;
}

/** Reads everything a device decision and a download need, consistently (one snapshot of the database). */
export async function loadCatalogSnapshot(dataSource: DataSource): Promise<LoadedCatalog> {
  return dataSource.transaction('REPEATABLE READ', async (manager) => {
    const [revision] = (await manager.query(`SELECT revision FROM catalog_revision WHERE id = 1`)) as { revision: string }[];
    const components = (await manager.query(`SELECT name FROM components ORDER BY name`)) as { name: string }[];
    const artifacts = (await manager.query(
      `SELECT a.id, c.name AS component, a.version, a.sha256, a.md5, a.size, a.requires_from, a.created_at
         FROM artifacts a JOIN components c ON c.id = a.component_id
        ORDER BY a.created_at ASC, a.id ASC`,
    )) as ArtifactRow[];
    const channels = (await manager.query(
      `SELECT c.name AS component, ch.name, a.version, ch.attributes, ch.allow_downgrade
         FROM channels ch JOIN components c ON c.id = ch.component_id JOIN artifacts a ON a.id = ch.artifact_id`,
    )) as ChannelRow[];
    const rollouts = (
      (await manager.query(
        `SELECT r.id, c.name AS component, ch.name AS channel, a.version, r.selectors, (r.phases -> r.phase_index ->> 'percent')::int AS percent
           FROM rollouts r JOIN components c ON c.id = r.component_id JOIN channels ch ON ch.id = r.channel_id JOIN artifacts a ON a.id = r.artifact_id
          WHERE r.state = 'running'`,
      )) as { id: string; component: string; channel: string; version: string; selectors: Record<string, string>; percent: number }[]
    ).map((r): CatalogRollout => ({ id: r.id, component: r.component, channel: r.channel, version: r.version, selectors: r.selectors, percent: r.percent }));

    const byName = new Map<string, CatalogComponent>(components.map((c) => [c.name, { name: c.name, artifacts: [], channels: [] }]));
    const binaries = new Map<string, CatalogBinary>();
    for (const a of artifacts) {
      // Oldest first: the first artifact seen with a hash is the one the binary's manifest names.
      if (!binaries.has(a.sha256)) binaries.set(a.sha256, { sha256: a.sha256, size: Number(a.size), createdAt: a.created_at, artifactId: a.id });
      byName.get(a.component)?.artifacts.push({
        version: a.version,
        sha256: a.sha256,
        md5: a.md5,
        size: Number(a.size),
        requiresFrom: a.requires_from,
      });
    }
    for (const ch of channels) {
      byName.get(ch.component)?.channels.push({ name: ch.name, version: ch.version, flags: ch.attributes, allowDowngrade: ch.allow_downgrade });
    }
    return { snapshot: { revision: String(revision.revision), components: [...byName.values()], rollouts }, binaries };
  });
}
