import { rankPeers } from './rendezvous';

const peers = ['12D3KooWA', '12D3KooWB', '12D3KooWC', '12D3KooWD'];
const sha = 'c0ffee'.padEnd(64, '0');

describe(rankPeers.name, () => {
  it('gives every agent the same owner whatever order it lists the peers in', () => {
    for (let i = 0; i < 50; i++) {
      expect(rankPeers([...peers].reverse(), sha, i)).toEqual(rankPeers(peers, sha, i));
    }
  });

  it('spreads ownership across peers', () => {
    const owned = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const owner = rankPeers(peers, sha, i)[0];
      owned.set(owner, (owned.get(owner) ?? 0) + 1);
    }
    expect(owned.size).toBe(4);
    for (const count of owned.values()) expect(count).toBeGreaterThan(50); // ~100 each
  });

  it('moves only the chunks of a peer that leaves, each to its runner-up', () => {
    for (let i = 0; i < 200; i++) {
      const before = rankPeers(peers, sha, i);
      const after = rankPeers(
        peers.filter((p) => p !== '12D3KooWC'),
        sha,
        i,
      );
      expect(after).toEqual(before.filter((p) => p !== '12D3KooWC'));
    }
  });
});
