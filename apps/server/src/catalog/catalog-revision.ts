import type { EntityManager } from 'typeorm';

/**
 * Bumps the catalog revision inside the caller's transaction. Every change to what devices may be
 * offered goes through here, so caches on every replica can tell their snapshot is stale.
 */
export async function bumpCatalogRevision(manager: EntityManager): Promise<number> {
  const rows: { revision: string }[] = await manager.query(
    `UPDATE catalog_revision SET revision = revision + 1, changed_at = now() WHERE id = 1 RETURNING revision`,
  );
  return Number(rows[0].revision);
}
