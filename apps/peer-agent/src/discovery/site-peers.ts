import { rankPeers } from '../fetch/rendezvous';

export type PeerSource = 'roster' | 'probe';

interface Member {
  addrs: string[];
  expiresAt: number;
  sources: Set<PeerSource>;
}

/**
 * The live peers of this agent's site, as seen by this agent: from the origin's roster (which
 * vouches for site membership) and from peers found by mDNS, bootstrap or an inbound connection
 * that confirmed their site over `/ota/chunk/1.0.0` `info`. Entries expire unless refreshed, a peer
 * that failed to answer is skipped for a while, and a peer that sent a bad chunk is banned for the
 * rest of the session.
 */
export class SitePeers {
  private readonly members = new Map<string, Member>();
  private readonly downUntil = new Map<string, number>();
  private readonly banned = new Set<string>();
  private readonly listeners: Array<() => void> = [];

  constructor(
    readonly selfId: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Adds or refreshes a peer for `ttlMs`. Returns true when the peer was not live before. */
  upsert(peerId: string, addrs: string[], ttlMs: number, source: PeerSource): boolean {
    if (peerId === this.selfId) return false;
    const wasLive = this.isLive(peerId);
    const member = this.members.get(peerId) ?? { addrs: [], expiresAt: 0, sources: new Set<PeerSource>() };
    if (addrs.length > 0) member.addrs = addrs;
    member.expiresAt = Math.max(member.expiresAt, this.now() + ttlMs);
    member.sources.add(source);
    this.members.set(peerId, member);
    if (!wasLive) this.changed();
    return !wasLive;
  }

  /** Known (even if expired) addresses of a peer. */
  addrsOf(peerId: string): string[] {
    return this.members.get(peerId)?.addrs ?? [];
  }

  has(peerId: string): boolean {
    const m = this.members.get(peerId);
    return m !== undefined && m.expiresAt > this.now();
  }

  /** Skips a peer that failed (refused, timed out) for `ms`, so chunk ownership moves to the runner-up meanwhile. */
  markDown(peerId: string, ms: number): void {
    this.downUntil.set(peerId, this.now() + ms);
    this.changed();
  }

  /** Bans a peer for the session. Returns true if it was not banned yet. */
  ban(peerId: string): boolean {
    if (this.banned.has(peerId)) return false;
    this.banned.add(peerId);
    this.changed();
    return true;
  }

  isBanned(peerId: string): boolean {
    return this.banned.has(peerId);
  }

  get bannedCount(): number {
    return this.banned.size;
  }

  private isLive(peerId: string): boolean {
    const m = this.members.get(peerId);
    if (!m || m.expiresAt <= this.now()) return false;
    if (this.banned.has(peerId)) return false;
    return (this.downUntil.get(peerId) ?? 0) <= this.now();
  }

  /** Live peers other than self, sorted. */
  live(): string[] {
    return [...this.members.keys()].filter((id) => this.isLive(id)).sort();
  }

  /** Self and the live peers, ordered by rendezvous score for one chunk (owner first). */
  rank(sha256: string, index: number): string[] {
    return rankPeers([this.selfId, ...this.live()], sha256, index);
  }

  /** Called whenever the live set may have changed (for the peers-known gauge). */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  private changed(): void {
    for (const l of this.listeners) l();
  }

  /** Drops entries that expired long ago, so the map does not grow without bound. */
  prune(graceMs: number): void {
    const limit = this.now() - graceMs;
    for (const [id, m] of this.members) if (m.expiresAt < limit) this.members.delete(id);
    for (const [id, until] of this.downUntil) if (until < limit) this.downUntil.delete(id);
  }
}
