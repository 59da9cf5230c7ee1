import { join } from 'node:path';
import { assertAgentBuilt, makeWorkDir, MiB, startAgentProcess, writeRandomFile, type AgentHandle } from '@peer-agent/test-support/agents';
import { download } from '@peer-agent/test-support/http-client';
import { startAppliance, type Appliance } from '@peer-agent/test-support/origin';
import { until } from '@test/support/wait';

jest.setTimeout(180_000);

/** Starts `count` agents of one site and waits until each sees all the others. */
async function startSite(origin: Appliance, dir: string, site: string, count: number, extra: { mdns?: boolean; roster?: boolean } = {}): Promise<AgentHandle[]> {
  const agents = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      startAgentProcess({ origin: origin.url, site, cacheDir: join(dir, `${site}-cache-${i}`), logFile: join(dir, `${site}-agent-${i}.log`), ...extra }),
    ),
  );
  const everyoneKnown = async () => {
    const health = await Promise.all(agents.map((a) => a.health()));
    return health.every((h) => h.peers.length === count - 1);
  };
  expect(await until(() => everyoneKnown().catch(() => false), Boolean, 30_000)).toBe(true);
  return agents;
}

describe('a site of peer agents', () => {
  let work: Awaited<ReturnType<typeof makeWorkDir>>;
  let origin: Appliance;
  const running: AgentHandle[] = [];

  beforeAll(async () => {
    assertAgentBuilt();
    work = await makeWorkDir('site');
    origin = await startAppliance(work.dir);
  });

  afterAll(async () => {
    await Promise.all(running.map((a) => a.stop()));
    await origin?.stop();
    await work?.cleanup();
  });

  it('delivers a 24 MiB artifact byte-exact through four agents at once while the origin sends it about once (roster discovery)', async () => {
    const size = 24 * MiB;
    const file = join(work.dir, 'os-image.bin');
    const sha256 = await writeRandomFile(file, size);
    const published = await origin.publish('os_armv8', '6.15.008', file);
    expect(published.sha256).toBe(sha256);

    const agents = await startSite(origin, work.dir, 'plant-7', 4);
    running.push(...agents);
    const sentBefore = await origin.artifactBytesSent();
    const started = Date.now();
    const downloads = await Promise.all(agents.map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    const seconds = (Date.now() - started) / 1000;
    const originBytes = (await origin.artifactBytesSent()) - sentBefore;

    for (const d of downloads) {
      expect(d.status).toBe(200);
      expect(d.complete).toBe(true);
      expect(d.bytes).toBe(size);
      expect(d.sha256).toBe(sha256);
    }
    expect(originBytes).toBeLessThanOrEqual(1.25 * size);

    const peerBytes = await Promise.all(agents.map((a) => a.metric('ota_peer_bytes_total', { source: 'peer' })));
    const badChunks = await Promise.all(agents.map((a) => a.metric('ota_peer_bad_chunks_total')));
    // The agents did share: three quarters of what the devices got travelled between peers.
    expect(peerBytes.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2 * size);
    expect(badChunks).toEqual([0, 0, 0, 0]);
    console.log(
      `4 agents x 24 MiB: origin sent ${(originBytes / size).toFixed(3)} x the size; ${seconds.toFixed(2)} s; peer bytes per agent ${peerBytes.map((b) => (b / MiB).toFixed(1)).join(', ')} MiB`,
    );
  });

  it('finds the site peers by mDNS alone (no roster) and shares through them', async () => {
    const size = 8 * MiB;
    const file = join(work.dir, 'modem.bin');
    const sha256 = await writeRandomFile(file, size);
    await origin.publish('modemFW', '2.0.0', file);

    // A random site name: other agents on this LAN (other test runs) answer mDNS too, and must be ignored.
    const site = `mdns-${process.pid}-${Date.now()}`;
    const agents = await startSite(origin, work.dir, site, 2, { mdns: true, roster: false });
    running.push(...agents);
    const sentBefore = await origin.artifactBytesSent();
    const downloads = await Promise.all(agents.map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    for (const d of downloads) expect(d.sha256).toBe(sha256);
    expect((await origin.artifactBytesSent()) - sentBefore).toBeLessThanOrEqual(1.25 * size);
  });

  it('finds a peer given by --bootstrap (no roster, no mDNS) and still shares under an upload limit', async () => {
    const size = 8 * MiB;
    const file = join(work.dir, 'camera.bin');
    const sha256 = await writeRandomFile(file, size);
    await origin.publish('camera', '1.0', file);

    const site = 'bootstrap-site';
    const first = await startAgentProcess({
      origin: origin.url,
      site,
      cacheDir: join(work.dir, 'bootstrap-a'),
      logFile: join(work.dir, 'bootstrap-a.log'),
      roster: false,
      extraArgs: ['--upload-limit', '64MiB'],
    });
    running.push(first);
    const second = await startAgentProcess({
      origin: origin.url,
      site,
      cacheDir: join(work.dir, 'bootstrap-b'),
      logFile: join(work.dir, 'bootstrap-b.log'),
      roster: false,
      extraArgs: ['--bootstrap', first.addrs[0]],
    });
    running.push(second);
    const bootstrappedKnowEachOther = async () => {
      const [a, b] = await Promise.all([first.health(), second.health()]);
      return a.peers.includes(second.peerId!) && b.peers.includes(first.peerId!);
    };
    expect(await until(() => bootstrappedKnowEachOther().catch(() => false), Boolean, 20_000)).toBe(true);

    const sentBefore = await origin.artifactBytesSent();
    const downloads = await Promise.all([first, second].map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    for (const d of downloads) expect(d.sha256).toBe(sha256);
    expect((await origin.artifactBytesSent()) - sentBefore).toBeLessThanOrEqual(1.25 * size);
    expect(await first.metric('ota_peer_served_bytes_total', { to: 'peer' })).toBeGreaterThan(0);
  });
});

describe('a site of peer agents at an appliance with DEVICE_AUTH=token', () => {
  let work: Awaited<ReturnType<typeof makeWorkDir>>;
  let origin: Appliance;
  const running: AgentHandle[] = [];

  beforeAll(async () => {
    assertAgentBuilt();
    work = await makeWorkDir('site-token');
    origin = await startAppliance(work.dir, { env: { DEVICE_AUTH: 'token' } });
  });

  afterAll(async () => {
    await Promise.all(running.map((a) => a.stop()));
    await origin?.stop();
    await work?.cleanup();
  });

  it('lists in the roster only the agents registered as devices, which then share', async () => {
    const size = 4 * MiB;
    const file = join(work.dir, 'token.bin');
    const sha256 = await writeRandomFile(file, size);
    await origin.publish('tokenFW', '1.0.0', file);

    const start = async (name: string, device?: { id: string; token: string }): Promise<AgentHandle> => {
      const agent = await startAgentProcess({
        origin: origin.url,
        site: 'token-site',
        cacheDir: join(work.dir, `cache-${name}`),
        logFile: join(work.dir, `agent-${name}.log`),
        ...(device ? { extraArgs: ['--device-id', device.id], env: { OTA_DEVICE_TOKEN: device.token } } : {}),
      });
      running.push(agent);
      return agent;
    };
    const [a, b] = [await start('a', { id: 'gw-a', token: await origin.registerDevice('gw-a') }), await start('b', { id: 'gw-b', token: await origin.registerDevice('gw-b') })];
    const stranger = await start('stranger');
    const registeredKnowEachOther = async () => {
      const [ha, hb] = await Promise.all([a.health(), b.health()]);
      return ha.peers.includes(b.peerId!) && hb.peers.includes(a.peerId!);
    };
    expect(await until(() => registeredKnowEachOther().catch(() => false), Boolean, 20_000)).toBe(true);
    // The stranger's registrations are refused (401), so nobody learns of it from the roster and it learns of nobody.
    expect((await stranger.health()).peers).toEqual([]);
    expect((await a.health()).peers).not.toContain(stranger.peerId);

    const sentBefore = await origin.artifactBytesSent();
    const downloads = await Promise.all([a, b].map((agent) => download(`${agent.httpUrl}/artifacts/${sha256}`)));
    for (const d of downloads) expect(d.sha256).toBe(sha256);
    expect((await origin.artifactBytesSent()) - sentBefore).toBeLessThanOrEqual(1.25 * size);
    expect((await a.metric('ota_peer_bytes_total', { source: 'peer' })) + (await b.metric('ota_peer_bytes_total', { source: 'peer' }))).toBeGreaterThan(0);
  });
});
