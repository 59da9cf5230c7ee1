import type { RosterResponse } from '@app/manifest';
import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { DeviceService } from '../devices/devices.service';

/** Most live peers one site's roster holds (and so the most a registration answers). */
export const MAX_PEERS_PER_SITE = 1000;
/** Expired entries of every site are swept at most this often per replica (a site's own on each registration). */
const SWEEP_INTERVAL_MS = 60_000;

export interface PeerRegistration {
  site: string;
  peerId: string;
  addrs: string[];
  httpUrl?: string;
  deviceId?: string;
}

interface RosterRow {
  peer_id: string;
  addrs: string[];
  http_url: string | null;
  last_seen: Date | string;
}

/**
 * The site roster peer agents find each other through where mDNS does not reach. It lives in the
 * database, so every replica answers with the same peers; entries expire PEER_ROSTER_TTL_SECONDS
 * after their last registration (timestamps are the database's, so replicas' clocks do not matter).
 */
@Injectable()
export class PeerRosterService {
  private lastSweep = 0;

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
    private readonly devices: DeviceService,
  ) {}

  /**
   * Adds or refreshes a peer and answers the site's other live peers. With DEVICE_AUTH=token the
   * caller must be a registered device presenting its token, registering in the site it was
   * registered in (if it was given one), under a peer id no other device owns. With
   * DEVICE_AUTH=none nobody can be told apart: any caller may register or overwrite any entry.
   */
  async register(registration: PeerRegistration, token: string | undefined): Promise<RosterResponse> {
    const owner = this.config.deviceAuth === 'token' ? await this.authenticatedDevice(registration, token) : undefined;
    const foreign = registration.addrs.find((addr) => addr.includes('/p2p/') && !addr.endsWith(`/p2p/${registration.peerId}`));
    if (foreign) throw invalidInput(`addrs must be the registering peer's own: ${foreign.slice(0, 100)} names another peer`);

    const ttlSeconds = this.config.peerRosterTtlSeconds;
    await this.sweep(registration.site);
    const live: { count: string | number; present: boolean }[] = await this.dataSource.query(
      `SELECT count(*) AS count, bool_or(peer_id = $2) AS present FROM peer_roster WHERE site = $1 AND expires_at > now()`,
      [registration.site, registration.peerId],
    );
    if (Number(live[0].count) >= MAX_PEERS_PER_SITE && !live[0].present) {
      throw conflict(`site ${registration.site} already has ${MAX_PEERS_PER_SITE} live peers; this one can still find them by mDNS or --bootstrap`);
    }
    if (owner) await this.claim(registration.peerId, owner);
    await this.dataSource.query(
      `INSERT INTO peer_roster (site, peer_id, addrs, http_url, device_id, last_seen, expires_at)
       VALUES ($1, $2, $3, $4, $5, now(), now() + make_interval(secs => $6))
       ON CONFLICT (site, peer_id) DO UPDATE SET addrs = EXCLUDED.addrs, http_url = EXCLUDED.http_url,
         device_id = EXCLUDED.device_id, last_seen = EXCLUDED.last_seen, expires_at = EXCLUDED.expires_at`,
      [registration.site, registration.peerId, registration.addrs, registration.httpUrl ?? null, registration.deviceId ?? null, ttlSeconds],
    );
    const rows: RosterRow[] = await this.dataSource.query(
      `SELECT peer_id, addrs, http_url, last_seen FROM peer_roster
        WHERE site = $1 AND peer_id <> $2 AND expires_at > now()
        ORDER BY last_seen DESC, peer_id LIMIT $3`,
      [registration.site, registration.peerId, MAX_PEERS_PER_SITE],
    );
    return {
      peers: rows.map((row) => ({
        peerId: row.peer_id,
        addrs: row.addrs,
        ...(row.http_url ? { httpUrl: row.http_url } : {}),
        lastSeen: new Date(row.last_seen).toISOString(),
      })),
      ttlSeconds,
    };
  }

  /**
   * Releases a peer id (an operator's act): it loses its owner and leaves every site roster, so
   * the next device to register it owns it.
   */
  async release(peerId: string): Promise<void> {
    const removed = await this.dataSource.transaction(async (manager) => {
      const counted = (rows: { count: string | number }[]) => Number(rows[0].count);
      const owners = counted(await manager.query(`WITH gone AS (DELETE FROM peer_owners WHERE peer_id = $1 RETURNING 1) SELECT count(*) AS count FROM gone`, [peerId]));
      const entries = counted(await manager.query(`WITH gone AS (DELETE FROM peer_roster WHERE peer_id = $1 RETURNING 1) SELECT count(*) AS count FROM gone`, [peerId]));
      return owners + entries;
    });
    if (removed === 0) throw notFound(`no device owns peer id ${peerId} and no site roster lists it`);
  }

  /** The registering device, once its token and its site check out. */
  private async authenticatedDevice(registration: PeerRegistration, token: string | undefined): Promise<string> {
    const { deviceId, site } = registration;
    if (!deviceId) {
      throw new DomainError('Unauthenticated', 'DEVICE_AUTH=token: send deviceId (a registered device) and Authorization: Bearer <device token>');
    }
    await this.devices.requireDevice(deviceId, token);
    const registeredSite = await this.devices.registeredSite(deviceId);
    if (registeredSite !== null && registeredSite !== site) {
      throw new DomainError('Forbidden', `device ${deviceId} is registered in site ${registeredSite}; it may not register peers in site ${site}`);
    }
    return deviceId;
  }

  /**
   * Binds a peer id to the first device that registers it, and refuses it to every other device
   * until an operator releases it: a device must not take over another gateway's identity.
   */
  private async claim(peerId: string, deviceId: string): Promise<void> {
    const ownerOf = async () => ((await this.dataSource.query(`SELECT device_id FROM peer_owners WHERE peer_id = $1`, [peerId])) as { device_id: string }[])[0]?.device_id;
    let owner = await ownerOf();
    if (owner === undefined) {
      const claimed: unknown[] = await this.dataSource.query(
        `INSERT INTO peer_owners (peer_id, device_id) VALUES ($1, $2) ON CONFLICT (peer_id) DO NOTHING RETURNING peer_id`,
        [peerId, deviceId],
      );
      if (claimed.length > 0) {
        // Entries others made under this id while it had no owner (with DEVICE_AUTH=none, or before owners existed) go.
        await this.dataSource.query(`DELETE FROM peer_roster WHERE peer_id = $1 AND device_id IS DISTINCT FROM $2`, [peerId, deviceId]);
        return;
      }
      owner = await ownerOf();
    }
    if (owner !== deviceId) {
      throw conflict(`peer id ${peerId} is bound to another device, the first to register it; an operator can release it with DELETE /api/v1/peers/${peerId}`);
    }
  }

  /** Deletes expired entries: the site's own every time, everyone's now and then. */
  private async sweep(site: string): Promise<void> {
    const now = Date.now();
    if (now - this.lastSweep > SWEEP_INTERVAL_MS) {
      this.lastSweep = now;
      await this.dataSource.query(`DELETE FROM peer_roster WHERE expires_at <= now()`);
      return;
    }
    await this.dataSource.query(`DELETE FROM peer_roster WHERE site = $1 AND expires_at <= now()`, [site]);
  }
}
