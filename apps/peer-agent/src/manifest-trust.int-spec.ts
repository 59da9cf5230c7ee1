import { join } from 'node:path';
import { assertAgentBuilt, makeWorkDir, MiB, startAgentProcess, writeRandomFile, type AgentHandle, type AgentOptions } from '@peer-agent/test-support/agents';
import { download, type Download } from '@peer-agent/test-support/http-client';
import { startAppliance, type Appliance } from '@peer-agent/test-support/origin';
import { startTamperingProxy, type TamperingProxy } from '@peer-agent/test-support/tampering-proxy';

jest.setTimeout(120_000);

/**
 * The appliance never serves a bad manifest, so the bad ones come from a man in the middle: the
 * agents' origin URL is a proxy in front of the real appliance that spoils chosen manifests.
 */
describe('manifest trust', () => {
  let work: Awaited<ReturnType<typeof makeWorkDir>>;
  let appliance: Appliance;
  let proxy: TamperingProxy;
  const running: AgentHandle[] = [];
  let n = 0;

  const agent = async (extra: Partial<AgentOptions> = {}): Promise<AgentHandle> => {
    const i = n++;
    const handle = await startAgentProcess({ origin: proxy.url, site: 'trust-site', cacheDir: join(work.dir, `cache-${i}`), logFile: join(work.dir, `agent-${i}.log`), ...extra });
    running.push(handle);
    return handle;
  };
  const publish = async (name: string): Promise<string> => {
    const file = join(work.dir, `${name}.bin`);
    const sha256 = await writeRandomFile(file, 3 * MiB);
    await appliance.publish(name, '1.0.0', file);
    return sha256;
  };
  const expectRejected = (d: Download, reason: string): void => {
    expect(d.status).toBe(502);
    expect(d.headers['content-type']).toBe('application/json');
    expect(JSON.parse(d.text!)).toEqual({ error: 'manifest-rejected', reason });
  };

  beforeAll(async () => {
    assertAgentBuilt();
    work = await makeWorkDir('trust');
    appliance = await startAppliance(work.dir);
    proxy = await startTamperingProxy(appliance.url);
  });

  afterAll(async () => {
    await Promise.all(running.map((a) => (a.proc.exitCode === null && a.proc.signalCode === null ? a.stop() : undefined)));
    await proxy?.stop();
    await appliance?.stop();
    await work?.cleanup();
  });

  it('gives the device an error and never a byte when a manifest has a bad signature, an unknown key or is replayed', async () => {
    const good = await publish('good');
    const badSignature = await publish('bad-signature');
    const unknownKey = await publish('unknown-key');
    const replayed = await publish('replayed');
    proxy.tamper(badSignature, 'bad-signature');
    proxy.tamper(unknownKey, 'unknown-key');
    proxy.tamper(replayed, { replayOf: good });
    const a = await agent();

    const sentBefore = await appliance.artifactBytesSent();
    expectRejected(await download(`${a.httpUrl}/artifacts/${badSignature}`), 'bad-signature');
    expectRejected(await download(`${a.httpUrl}/manifests/${badSignature}`), 'bad-signature');
    expectRejected(await download(`${a.httpUrl}/artifacts/${unknownKey}`), 'unknown-key');
    expectRejected(await download(`${a.httpUrl}/artifacts/${unknownKey}`, { range: 'bytes=0-99' }), 'unknown-key');
    expectRejected(await download(`${a.httpUrl}/artifacts/${replayed}`), 'wrong-artifact');
    // Not a single artifact byte was even fetched for them.
    expect((await appliance.artifactBytesSent()) - sentBefore).toBe(0);
    expect(await a.metric('ota_peer_manifests_rejected_total', { reason: 'bad-signature' })).toBeGreaterThanOrEqual(1);
    expect(await a.metric('ota_peer_manifests_rejected_total', { reason: 'unknown-key' })).toBeGreaterThanOrEqual(1);
    expect(await a.metric('ota_peer_manifests_rejected_total', { reason: 'wrong-artifact' })).toBeGreaterThanOrEqual(1);

    // The same agent serves a properly signed artifact.
    expect((await download(`${a.httpUrl}/artifacts/${good}`)).sha256).toBe(good);
  });

  it('keeps trusting the key it pinned when the appliance rotates to a new one', async () => {
    const a = await agent(); // pins the appliance's current key
    const before = await publish('before-rotation');
    expect((await download(`${a.httpUrl}/artifacts/${before}`)).status).toBe(200);

    // The operator rotates: a new current key, the previous one still listed (and still valid).
    const rotated = await appliance.rotateKey();
    expect((await appliance.keys()).map((k) => k.current)).toEqual([true, false]);
    const afterRotation = await publish('after-rotation'); // signed with the new key, listed in /keys
    expectRejected(await download(`${a.httpUrl}/artifacts/${afterRotation}`), 'unknown-key');
    // What was signed before the rotation is still served, and still accepted.
    expect((await download(`${a.httpUrl}/manifests/${before}`)).status).toBe(200);

    // A restart does not re-pin either: the pin lives in the cache directory.
    await a.stop();
    const restarted = await agent({ cacheDir: a.options.cacheDir });
    expectRejected(await download(`${restarted.httpUrl}/artifacts/${afterRotation}`), 'unknown-key');

    // An operator who trusts the new key says so explicitly.
    const told = await agent({ extraArgs: ['--trust-key', rotated.publicKeyPem] });
    expect((await download(`${told.httpUrl}/artifacts/${afterRotation}`)).sha256).toBe(afterRotation);
    // A fresh agent pins both keys the appliance lists.
    const fresh = await agent();
    expect((await download(`${fresh.httpUrl}/artifacts/${before}`)).sha256).toBe(before);
    expect((await download(`${fresh.httpUrl}/artifacts/${afterRotation}`)).sha256).toBe(afterRotation);
  });
});
