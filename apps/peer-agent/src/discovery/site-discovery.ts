import type { PeerRegistration, RosterResponse } from '@app/manifest';
import type { Logger } from '../logging/logger';
import type { PeerInfo } from '../p2p/chunk-protocol';
import type { SitePeers } from './site-peers';

export interface DiscoveryNode {
  readonly peerId: string;
  addrs(): string[];
  addAddrs(peerId: string, addrs: string[]): Promise<void>;
  requestInfo(target: string, timeoutMs: number): Promise<PeerInfo>;
}

export interface RosterClient {
  register(body: Omit<PeerRegistration, 'deviceId'>): Promise<RosterResponse>;
}

export interface SiteDiscoveryOptions {
  site: string;
  roster: boolean;
  bootstrap: string[];
  /** Advertise loopback addresses (only when the agent listens on loopback, i.e. tests). */
  advertiseLoopback: boolean;
  httpUrl?: string;
}

const PROBE_TIMEOUT_MS = 5_000;
/** How long a peer confirmed by `info` (mDNS, bootstrap, inbound) counts as live without being re-confirmed. */
const PROBE_TTL_MS = 60_000;
/** A peer is probed at most this often (an mDNS storm or a peer from another site costs little). */
const PROBE_MIN_INTERVAL_MS = 10_000;
const RETRY_MS = 5_000;
/** An unknown peer connecting to us usually just got our address from the roster: refresh ours soon. */
const ROSTER_NUDGE_DEBOUNCE_MS = 200;
const ROSTER_NUDGE_MIN_INTERVAL_MS = 1_000;
const LOOPBACK = /^\/(ip4\/127\.|ip6\/::1\/)/;
/** The origin's limits on a registration (more, or longer, and it refuses the whole registration). */
const MAX_ADVERTISED_ADDRS = 16;
const MAX_ADDR_LENGTH = 256;

/**
 * Keeps {@link SitePeers} current: registers with the origin's site roster every ttl/3 (learning
 * the site's other peers, which works where multicast does not), and confirms peers found by mDNS,
 * `--bootstrap` or an inbound connection by asking their site over `/ota/chunk/1.0.0`.
 */
export class SiteDiscovery {
  private timer?: NodeJS.Timeout;
  private nudgeTimer?: NodeJS.Timeout;
  private lastRegister = 0;
  private readonly lastProbe = new Map<string, number>();
  private stopped = false;

  constructor(
    private readonly node: DiscoveryNode,
    private readonly origin: RosterClient,
    private readonly peers: SitePeers,
    private readonly options: SiteDiscoveryOptions,
    private readonly log: Logger,
  ) {}

  /** Registers once (so peers are known when the agent reports ready), then keeps refreshing. */
  async start(): Promise<void> {
    const delay = await this.refresh();
    this.schedule(delay);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.nudgeTimer);
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      void this.refresh().then((next) => this.schedule(next));
    }, ms);
    this.timer.unref();
  }

  /** One round: roster, bootstrap peers, housekeeping. Returns the delay until the next round. */
  private async refresh(): Promise<number> {
    let next = 20_000;
    if (this.options.roster) next = await this.register();
    for (const addr of this.options.bootstrap) void this.probe(addr);
    this.peers.prune(10 * 60_000);
    return next;
  }

  private advertisedAddrs(): string[] {
    return this.node
      .addrs()
      .filter((a) => (this.options.advertiseLoopback || !LOOPBACK.test(a)) && a.length <= MAX_ADDR_LENGTH)
      .slice(0, MAX_ADVERTISED_ADDRS);
  }

  private async register(): Promise<number> {
    this.lastRegister = Date.now();
    try {
      const roster = await this.origin.register({
        site: this.options.site,
        peerId: this.node.peerId,
        addrs: this.advertisedAddrs(),
        httpUrl: this.options.httpUrl,
      });
      const ttlMs = roster.ttlSeconds * 1000;
      for (const peer of roster.peers) {
        if (peer.peerId === this.node.peerId) continue;
        await this.node.addAddrs(peer.peerId, peer.addrs).catch((error: unknown) => {
          this.log.debug({ peerId: peer.peerId, err: (error as Error).message }, 'roster peer has no usable address');
        });
        if (this.peers.upsert(peer.peerId, peer.addrs, ttlMs, 'roster')) {
          this.log.info({ peerId: peer.peerId, addrs: peer.addrs }, 'site peer from roster');
          // Connecting lets the new peer learn about us at once (it refreshes its roster on an unknown connection).
          void this.probe(peer.peerId);
        }
      }
      return Math.max(1_000, ttlMs / 3);
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'site roster registration failed; retrying');
      return RETRY_MS;
    }
  }

  /** A peer announced on the LAN by mDNS (repeatedly: each announcement re-confirms it, throttled). */
  onDiscovery(peerId: string): void {
    if (!this.peers.isBanned(peerId)) void this.probe(peerId);
  }

  /** A connection with a peer was opened (either direction). */
  onConnect(peerId: string): void {
    if (this.peers.has(peerId) || this.peers.isBanned(peerId)) return;
    void this.probe(peerId);
    this.nudgeRoster();
  }

  private nudgeRoster(): void {
    if (!this.options.roster || this.stopped || this.nudgeTimer) return;
    const wait = Math.max(ROSTER_NUDGE_DEBOUNCE_MS, this.lastRegister + ROSTER_NUDGE_MIN_INTERVAL_MS - Date.now());
    this.nudgeTimer = setTimeout(() => {
      this.nudgeTimer = undefined;
      void this.refresh().then((next) => this.schedule(next));
    }, wait);
    this.nudgeTimer.unref();
  }

  /** Asks a peer (peerId or multiaddr) for its site; a peer of this site becomes live for a while. */
  private async probe(target: string): Promise<void> {
    const now = Date.now();
    if ((this.lastProbe.get(target) ?? 0) + PROBE_MIN_INTERVAL_MS > now) return;
    this.lastProbe.set(target, now);
    try {
      const info = await this.node.requestInfo(target, PROBE_TIMEOUT_MS);
      if (info.site !== this.options.site || info.peerId === this.node.peerId || this.peers.isBanned(info.peerId)) return;
      const addrs = target.startsWith('/') ? [target] : this.peers.addrsOf(info.peerId);
      if (this.peers.upsert(info.peerId, addrs, PROBE_TTL_MS, 'probe')) {
        this.log.info({ peerId: info.peerId }, 'site peer confirmed');
      }
    } catch (error) {
      this.log.debug({ target, err: (error as Error).message }, 'peer probe failed');
    }
  }
}
