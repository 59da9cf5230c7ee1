import { createHash } from 'node:crypto';

/**
 * Highest-random-weight (rendezvous) hashing: each peer gets a pseudo-random score for a chunk and
 * the highest score owns it. Every agent that sees the same set of peers computes the same owner
 * without talking to anyone, and when a peer leaves only the chunks it owned move (to each
 * chunk's runner-up), so the rest of the site's coordination is undisturbed.
 */
export function rendezvousScore(peerId: string, sha256: string, index: number): bigint {
  const digest = createHash('sha256').update(`${peerId}\n${sha256}\n${index}`).digest();
  return digest.readBigUInt64BE(0);
}

/** Peers ordered by their score for chunk `index` of `sha256`, owner first. Ties (never seen in practice) break by peerId. */
export function rankPeers(peerIds: readonly string[], sha256: string, index: number): string[] {
  return [...new Set(peerIds)]
    .map((id) => ({ id, score: rendezvousScore(id, sha256, index) }))
    .sort((a, b) => (a.score === b.score ? (a.id < b.id ? -1 : 1) : a.score > b.score ? -1 : 1))
    .map((p) => p.id);
}
