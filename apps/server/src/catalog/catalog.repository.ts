import type { CatalogComponent, CatalogRollout } from '@app/resolver';
import { Injectable } from '@nestjs/common';
import { DatabaseContext } from '../database/unit-of-work';
import { CATALOG_CHANNEL } from './catalog-events';
import type { CatalogBinary, LoadedCatalog } from './catalog-snapshot';

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

interface ChannelRow {
  component: string;
  name: string;
  version: string;
  attributes: string[];
  allow_downgrade: boolean;
}

interface RolloutRow {
  id: string;
  component: string;
  channel: string;
  version: string;
  selectors: Record<string, string>;
  percent: number;
}

/**
 * The catalog's view of the database: the revision every change bumps, and the one read of
 * components, artifacts, channels and running rollouts that devices are answered from. The read
 * spans several features' tables because it must be one consistent snapshot of them.
 */
@Injectable()
export class CatalogRepository {
  constructor(private readonly context: DatabaseContext) {}

  /**
   * Bumps the revision in the surrounding unit of work and notifies other replicas (NOTIFY is
   * delivered at commit, so they never see the message before the change).
   */
  async bumpRevision(): Promise<number> {
    const manager = this.context.manager;
    const rows: { revision: string }[] = await manager.query(`UPDATE catalog_revision SET revision = revision + 1, changed_at = now() WHERE id = 1 RETURNING revision`);
    const revision = Number(rows[0].revision);
    await manager.query(`SELECT pg_notify($1, $2)`, [CATALOG_CHANNEL, String(revision)]);
    return revision;
  }

  /** The committed revision (never read inside a unit of work: it asks what other connections see). */
  async committedRevision(): Promise<string> {
    const [row] = (await this.context.dataSource.query(`SELECT revision FROM catalog_revision WHERE id = 1`)) as { revision: string }[];
    return String(row.revision);
  }

  /**
   * Reads everything a device decision and a download need, consistently (one REPEATABLE READ
   * transaction of its own, never the caller's: it must see what is committed).
   */
  async loadSnapshot(): Promise<LoadedCatalog> {
    return this.context.dataSource.transaction('REPEATABLE READ', async (manager) => {
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
        )) as RolloutRow[]
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
}
