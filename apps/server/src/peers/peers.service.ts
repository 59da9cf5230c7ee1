import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { conflict, DomainError, invalidInput } from '../common/domain-error';
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

export interface RosterPeer {
  peerId: string;
  addrs: string[];
  httpUrl?: string;
  lastSeen: string;
}

export interface Roster {
  peers: RosterPeer[];
  ttlSeconds: number;
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
   * caller must be a registered device presenting its token.
   */
  async register(registration: PeerRegistration, token: string | undefined): Promise<Roster> {
    if (this.config.deviceAuth === 'token') {
      if (!registration.deviceId) {
        throw new DomainError('Unauthenticated', 'DEVICE_AUTH=token: send deviceId (a registered device) and Authorization: Bearer <device token>');
      }
      await this.devices.requireDevice(registration.deviceId, token);
    }
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
