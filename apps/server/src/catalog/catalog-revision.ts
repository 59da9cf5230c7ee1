import type { EntityManager } from 'typeorm';
import { CATALOG_CHANNEL } from './catalog-events';

/**
 * Bumps the catalog revision inside the caller's transaction and notifies other replicas
 * (NOTIFY is delivered at commit, so they never see the message before the change). Every change
 * to what devices may be offered goes through here. Call CatalogEvents.changed() after commit.
 */
export async function bumpCatalogRevision(manager: EntityManager): Promise<number> {
  const rows: { revision: string }[] = await manager.query(
    `UPDATE catalog_revision SET revision = revision + 1, changed_at = now() WHERE id = 1 RETURNING revision`,
  );
  const revision = Number(rows[0].revision);
  await manager.query(`SELECT pg_notify($1, $2)`, [CATALOG_CHANNEL, String(revision)]);
  return revision;
}
