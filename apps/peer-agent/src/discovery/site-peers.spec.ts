import { SitePeers } from './site-peers';

describe(SitePeers.name, () => {
  let now = 0;
  const make = (): SitePeers => new SitePeers('self', () => now);
  beforeEach(() => (now = 1_000_000));

  it('lists peers until their entry expires', () => {
    const peers = make();
    expect(peers.upsert('b', ['/ip4/10.0.0.2/tcp/1/p2p/b'], 60_000, 'roster')).toBe(true);
    expect(peers.upsert('b', [], 60_000, 'roster')).toBe(false);
    expect(peers.live()).toEqual(['b']);
    now += 60_001;
    expect(peers.live()).toEqual([]);
    expect(peers.addrsOf('b')).toEqual(['/ip4/10.0.0.2/tcp/1/p2p/b']);
  });

  it('never lists itself', () => {
    const peers = make();
    peers.upsert('self', [], 60_000, 'roster');
    expect(peers.live()).toEqual([]);
    expect(peers.rank('a'.repeat(64), 0)).toEqual(['self']);
  });

  it('skips a peer marked down, then takes it back', () => {
    const peers = make();
    peers.upsert('b', [], 600_000, 'roster');
    peers.markDown('b', 15_000);
    expect(peers.live()).toEqual([]);
    now += 15_001;
    expect(peers.live()).toEqual(['b']);
  });

  it('keeps a banned peer out for the session, even when the roster lists it again', () => {
    const peers = make();
    peers.upsert('b', [], 60_000, 'roster');
    expect(peers.ban('b')).toBe(true);
    expect(peers.ban('b')).toBe(false);
    peers.upsert('b', [], 60_000, 'roster');
    expect(peers.live()).toEqual([]);
    expect(peers.bannedCount).toBe(1);
    expect(peers.rank('a'.repeat(64), 0)).toEqual(['self']);
  });

  it('ranks self and live peers for each chunk', () => {
    const peers = make();
    peers.upsert('b', [], 60_000, 'roster');
    peers.upsert('c', [], 60_000, 'probe');
    expect(new Set(peers.rank('a'.repeat(64), 7))).toEqual(new Set(['self', 'b', 'c']));
  });
});
