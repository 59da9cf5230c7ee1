import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertAgentBuilt, makeWorkDir, MiB, startAgentProcess, writeRandomFile, type AgentHandle, type AgentOptions } from '@peer-agent/test-support/agents';
import { download } from '@peer-agent/test-support/http-client';
import { startAppliance, type Appliance } from '@peer-agent/test-support/origin';
import { until } from '@test/support/wait';

jest.setTimeout(180_000);

describe('peer agents under faults', () => {
  let work: Awaited<ReturnType<typeof makeWorkDir>>;
  let origin: Appliance;
  const running: AgentHandle[] = [];
  let n = 0;

  const agent = async (site: string, extra: Partial<AgentOptions> = {}): Promise<AgentHandle> => {
    const i = n++;
    const handle = await startAgentProcess({ origin: origin.url, site, cacheDir: join(work.dir, `cache-${i}`), logFile: join(work.dir, `agent-${i}.log`), ...extra });
    running.push(handle);
    return handle;
  };
  const knowEachOther = async (agents: AgentHandle[]) => (await Promise.all(agents.map((a) => a.health()))).every((h) => h.peers.length === agents.length - 1);
  const meshed = async (agents: AgentHandle[]): Promise<void> => {
    expect(await until(() => knowEachOther(agents).catch(() => false), Boolean, 30_000)).toBe(true);
  };
  const publish = async (name: string, size: number): Promise<string> => {
    const file = join(work.dir, `${name}.bin`);
    const sha256 = await writeRandomFile(file, size);
    await origin.publish(name, '1.0.0', file);
    return sha256;
  };

  beforeAll(async () => {
    assertAgentBuilt();
    work = await makeWorkDir('faults');
    origin = await startAppliance(work.dir);
  });

  afterAll(async () => {
    await Promise.all(running.map((a) => (a.proc.exitCode === null && a.proc.signalCode === null ? a.stop() : undefined)));
    await origin?.stop();
    await work?.cleanup();
  });

  it('never passes on a corrupted chunk from a peer: the peer is banned and the download completes', async () => {
    const sha256 = await publish('corrupt-case', 16 * MiB);
    const site = 'corrupt-site';
    const good = [await agent(site), await agent(site)];
    const bad = await agent(site, { env: { OTA_TEST_CORRUPT_SERVED_CHUNKS: '1' } });
    await meshed([...good, bad]);

    // The faulty agent gets the whole artifact first (its own device is served correctly: it only
    // corrupts what it sends to peers), so it holds every chunk the good agents will ask it for.
    expect((await download(`${bad.httpUrl}/artifacts/${sha256}`)).sha256).toBe(sha256);

    const downloads = await Promise.all(good.map((a) => download(`${a.httpUrl}/artifacts/${sha256}`)));
    for (const d of downloads) {
      expect(d.status).toBe(200);
      expect(d.complete).toBe(true);
      expect(d.sha256).toBe(sha256);
    }
    for (const a of good) {
      expect(await a.metric('ota_peer_bad_chunks_total', { source: 'peer' })).toBeGreaterThanOrEqual(1);
      expect(await a.metric('ota_peer_banned_peers')).toBe(1);
      const health = await a.health();
      expect(health.bannedPeers).toBe(1);
      expect(health.peers).not.toContain(bad.peerId);
    }
  });

  it('catches a bit flipped in the cache on disk after a restart, fetches that chunk again and never serves it', async () => {
    const size = 6 * MiB;
    const sha256 = await publish('bitrot-case', size);
    const lone = await agent(`bitrot-site`);
    expect((await download(`${lone.httpUrl}/artifacts/${sha256}`)).sha256).toBe(sha256);
    await lone.stop();

    const chunkFile = join(lone.options.cacheDir, 'artifacts', sha256, '3.chunk');
    const bytes = await readFile(chunkFile);
    bytes[4242] ^= 0x20;
    await writeFile(chunkFile, bytes);

    const restarted = await agent('bitrot-site', { cacheDir: lone.options.cacheDir });
    const sentBefore = await origin.artifactBytesSent();
    const again = await download(`${restarted.httpUrl}/artifacts/${sha256}`);
    expect(again.sha256).toBe(sha256);
    expect(await restarted.metric('ota_peer_bad_chunks_total', { source: 'cache' })).toBe(1);
    // Exactly the bad chunk came again from the origin; the rest was served from the verified cache.
    expect((await origin.artifactBytesSent()) - sentBefore).toBe(MiB);
    expect(await restarted.metric('ota_peer_bytes_total', { source: 'cache' })).toBe(size - MiB);
    // The cache now holds the right bytes again.
    const original = await readFile(join(work.dir, 'bitrot-case.bin'));
    expect((await readFile(chunkFile)).equals(original.subarray(3 * MiB, 4 * MiB))).toBe(true);
    expect((await readdir(join(lone.options.cacheDir, 'artifacts', sha256))).filter((f) => f.endsWith('.chunk'))).toHaveLength(6);
  });

  it('lets a device resume with Range from another agent, or the origin, after its agent is killed mid-transfer', async () => {
    const size = 24 * MiB;
    const sha256 = await publish('failover-case', size);
    const site = 'failover-site';
    const doomed = await agent(site);
    const survivor = await agent(site);
    await meshed([doomed, survivor]);

    // The device reads from `doomed`; once 4 MiB have arrived, the agent is killed (SIGKILL, like a power cut).
    const hash = createHash('sha256');
    let killing: Promise<void> | undefined;
    const first = await download(
      `${doomed.httpUrl}/artifacts/${sha256}`,
      {},
      (received) => {
        if (received >= 4 * MiB && !killing) killing = doomed.kill();
      },
      hash,
    );
    await killing;
    expect(first.status).toBe(200);
    expect(first.complete).toBe(false);
    expect(first.bytes).toBeLessThan(size);

    // A real HTTP client resumes where it stopped, from the other agent of the site.
    const rest = await download(`${survivor.httpUrl}/artifacts/${sha256}`, { range: `bytes=${first.bytes}-`, 'if-range': first.headers.etag as string }, undefined, hash);
    expect(rest.status).toBe(206);
    expect(rest.headers['content-range']).toBe(`bytes ${first.bytes}-${size - 1}/${size}`);
    expect(first.bytes + rest.bytes).toBe(size);
    expect(rest.sha256).toBe(sha256);

    // The same resume works against the origin itself: the agent's ETag is the origin's, so If-Range holds there too.
    const viaOrigin = createHash('sha256');
    const prefix = await download(`${origin.url}/artifacts/${sha256}`, { range: `bytes=0-${first.bytes - 1}` }, undefined, viaOrigin);
    const suffix = await download(`${origin.url}/artifacts/${sha256}`, { range: `bytes=${first.bytes}-`, 'if-range': first.headers.etag as string }, undefined, viaOrigin);
    expect(suffix.status).toBe(206);
    expect(prefix.bytes + suffix.bytes).toBe(size);
    expect(suffix.sha256).toBe(sha256);
  });
});
