import { Injectable } from '@nestjs/common';
import { DatabaseContext } from '../database/unit-of-work';

export interface RosterEntry {
  site: string;
  peerId: string;
  addrs: string[];
  httpUrl: string | null;
  deviceId: string | null;
}

export interface LivePeer {
  peerId: string;
  addrs: string[];
  httpUrl: string | null;
  lastSeen: Date;
}

interface RosterRow {
  peer_id: string;
  addrs: string[];
  http_url: string | null;
  last_seen: Date | string;
}

const counted = (rows: { count: string | number }[]) => Number(rows[0].count);

/**
 * The site rosters and who owns which peer id (peer_roster, peer_owners). Times are the
 * database's, so replicas' clocks do not matter. Every call joins the surrounding unit of work.
 */
@Injectable()
export class PeerRepository {
  constructor(private readonly context: DatabaseContext) {}

  private query<Row>(sql: string, parameters?: unknown[]): Promise<Row[]> {
    return this.context.manager.query(sql, parameters);
  }

  /** How many live peers the site's roster holds, and whether `peerId` is one of them. */
  async liveCount(site: string, peerId: string): Promise<{ count: number; present: boolean }> {
    const rows = await this.query<{ count: string | number; present: boolean }>(
      `SELECT count(*) AS count, bool_or(peer_id = $2) AS present FROM peer_roster WHERE site = $1 AND expires_at > now()`,
      [site, peerId],
    );
    return { count: Number(rows[0].count), present: rows[0].present };
  }

  /** Adds the entry, or refreshes it, seen now and live for `ttlSeconds`. */
  async upsert(entry: RosterEntry, ttlSeconds: number): Promise<void> {
    await this.query(
      `INSERT INTO peer_roster (site, peer_id, addrs, http_url, device_id, last_seen, expires_at)
       VALUES ($1, $2, $3, $4, $5, now(), now() + make_interval(secs => $6))
       ON CONFLICT (site, peer_id) DO UPDATE SET addrs = EXCLUDED.addrs, http_url = EXCLUDED.http_url,
         device_id = EXCLUDED.device_id, last_seen = EXCLUDED.last_seen, expires_at = EXCLUDED.expires_at`,
      [entry.site, entry.peerId, entry.addrs, entry.httpUrl, entry.deviceId, ttlSeconds],
    );
  }

  /** The site's live peers but `exceptPeerId`, most recently seen first, at most `limit`. */
  async live(site: string, exceptPeerId: string, limit: number): Promise<LivePeer[]> {
    const rows = await this.query<RosterRow>(
      `SELECT peer_id, addrs, http_url, last_seen FROM peer_roster
        WHERE site = $1 AND peer_id <> $2 AND expires_at > now()
        ORDER BY last_seen DESC, peer_id LIMIT $3`,
      [site, exceptPeerId, limit],
    );
    return rows.map((row) => ({ peerId: row.peer_id, addrs: row.addrs, httpUrl: row.http_url, lastSeen: new Date(row.last_seen) }));
  }

  /** Removes the peer id from every site's roster; answers how many entries went. */
  async removeEverywhere(peerId: string): Promise<number> {
    return counted(await this.query(`WITH gone AS (DELETE FROM peer_roster WHERE peer_id = $1 RETURNING 1) SELECT count(*) AS count FROM gone`, [peerId]));
  }

  /** Removes the entries under this peer id that another device (or no device) made. */
  async removeOthersEntries(peerId: string, deviceId: string): Promise<void> {
    await this.query(`DELETE FROM peer_roster WHERE peer_id = $1 AND device_id IS DISTINCT FROM $2`, [peerId, deviceId]);
  }

  async removeExpired(): Promise<void> {
    await this.query(`DELETE FROM peer_roster WHERE expires_at <= now()`);
  }

  async removeExpiredIn(site: string): Promise<void> {
    await this.query(`DELETE FROM peer_roster WHERE site = $1 AND expires_at <= now()`, [site]);
  }

  /** The device that owns the peer id, if any. */
  async ownerOf(peerId: string): Promise<string | undefined> {
    return (await this.query<{ device_id: string }>(`SELECT device_id FROM peer_owners WHERE peer_id = $1`, [peerId]))[0]?.device_id;
  }

  /** Makes `deviceId` the peer id's owner unless it has one; answers whether it did. */
  async claim(peerId: string, deviceId: string): Promise<boolean> {
    const claimed = await this.query(`INSERT INTO peer_owners (peer_id, device_id) VALUES ($1, $2) ON CONFLICT (peer_id) DO NOTHING RETURNING peer_id`, [peerId, deviceId]);
    return claimed.length > 0;
  }

  /** Removes the peer id's owner; answers how many owners went (0 or 1). */
  async removeOwner(peerId: string): Promise<number> {
    return counted(await this.query(`WITH gone AS (DELETE FROM peer_owners WHERE peer_id = $1 RETURNING 1) SELECT count(*) AS count FROM gone`, [peerId]));
  }
}
