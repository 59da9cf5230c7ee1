import type { RosterResponse } from '@app/manifest';
import { Injectable } from '@nestjs/common';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { UnitOfWork } from '../database/unit-of-work';
import { DeviceService } from '../devices/devices.service';
import { PeerRepository } from './peer.repository';

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

/**
 * The site roster peer agents find each other through where mDNS does not reach. It lives in the
 * database, so every replica answers with the same peers; entries expire PEER_ROSTER_TTL_SECONDS
 * after their last registration (timestamps are the database's, so replicas' clocks do not matter).
 */
@Injectable()
export class PeerRosterService {
  private lastSweep = 0;

  constructor(
    private readonly roster: PeerRepository,
    private readonly unitOfWork: UnitOfWork,
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
    const live = await this.roster.liveCount(registration.site, registration.peerId);
    if (live.count >= MAX_PEERS_PER_SITE && !live.present) {
      throw conflict(`site ${registration.site} already has ${MAX_PEERS_PER_SITE} live peers; this one can still find them by mDNS or --bootstrap`);
    }
    if (owner) await this.claim(registration.peerId, owner);
    await this.roster.upsert(
      { site: registration.site, peerId: registration.peerId, addrs: registration.addrs, httpUrl: registration.httpUrl ?? null, deviceId: registration.deviceId ?? null },
      ttlSeconds,
    );
    const peers = await this.roster.live(registration.site, registration.peerId, MAX_PEERS_PER_SITE);
    return {
      peers: peers.map((peer) => ({
        peerId: peer.peerId,
        addrs: peer.addrs,
        ...(peer.httpUrl ? { httpUrl: peer.httpUrl } : {}),
        lastSeen: peer.lastSeen.toISOString(),
      })),
      ttlSeconds,
    };
  }

  /**
   * Releases a peer id (an operator's act): it loses its owner and leaves every site roster, so
   * the next device to register it owns it.
   */
  async release(peerId: string): Promise<void> {
    const removed = await this.unitOfWork.run(async () => {
      const owners = await this.roster.removeOwner(peerId);
      const entries = await this.roster.removeEverywhere(peerId);
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
    let owner = await this.roster.ownerOf(peerId);
    if (owner === undefined) {
      if (await this.roster.claim(peerId, deviceId)) {
        // Entries others made under this id while it had no owner (with DEVICE_AUTH=none, or before owners existed) go.
        await this.roster.removeOthersEntries(peerId, deviceId);
        return;
      }
      owner = await this.roster.ownerOf(peerId);
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
      await this.roster.removeExpired();
      return;
    }
    await this.roster.removeExpiredIn(site);
  }
}
