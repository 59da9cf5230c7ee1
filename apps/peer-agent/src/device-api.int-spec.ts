import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AGENT_MAIN, assertAgentBuilt, makeWorkDir, MiB, startAgentProcess, writeRandomFile, type AgentHandle } from '@peer-agent/test-support/agents';
import { download, getJson, httpRequest, tarEntries } from '@peer-agent/test-support/http-client';
import { startAppliance, type Appliance } from '@peer-agent/test-support/origin';

jest.setTimeout(120_000);

interface Component {
  url: string;
  manifestUrl: string;
  sha256: string;
  md5: string;
  status_code: number;
}

describe('the agent as a device sees it', () => {
  let work: Awaited<ReturnType<typeof makeWorkDir>>;
  let origin: Appliance;
  let agent: AgentHandle;
  let sha256: string;
  let md5: string;
  const size = 5 * MiB + 123;

  beforeAll(async () => {
    assertAgentBuilt();
    work = await makeWorkDir('device');
    origin = await startAppliance(work.dir);
    const file = join(work.dir, 'os.bin');
    sha256 = await writeRandomFile(file, size);
    md5 = (await origin.publish('os_armv8', '5.6.14', file)).md5;
    await origin.setChannel('os_armv8', 'prod', '5.6.14');
    agent = await startAgentProcess({ origin: origin.url, site: 'device-site', cacheDir: join(work.dir, 'cache'), logFile: join(work.dir, 'agent.log') });
  });

  afterAll(async () => {
    await agent?.stop();
    await origin?.stop();
    await work?.cleanup();
  });

  const check = '/package?cpuArch=armv8';

  it('answers /package like the origin, with download URLs pointing at the agent', async () => {
    const direct = await getJson<Record<string, Component>>(`${origin.url}${check}&payloadType=metadataOnly`);
    const { status, body, headers } = await getJson<Record<string, Component>>(`${agent.httpUrl}${check}&payloadType=metadataOnly`);
    expect(status).toBe(200);
    expect(headers['cache-control']).toBe('public, max-age=100');
    expect(headers.etag).toBe(direct.headers.etag);
    expect(body).toEqual({
      os_armv8: { ...direct.body.os_armv8, url: `${agent.httpUrl}/artifacts/${sha256}`, manifestUrl: `${agent.httpUrl}/manifests/${sha256}` },
    });
    expect(direct.body.os_armv8).toMatchObject({ url: `${origin.url}/artifacts/${sha256}`, sha256, md5, status_code: 200 });

    // Following the URLs gives the origin's signed manifest and the right bytes.
    const manifest = await getJson<{ manifest: { sha256: string; size: number } }>(body.os_armv8.manifestUrl);
    expect(manifest.body).toEqual((await getJson(`${origin.url}/manifests/${sha256}`)).body);
    expect(manifest.body.manifest).toMatchObject({ sha256, size });
    const artifact = await download(body.os_armv8.url);
    expect(artifact.sha256).toBe(sha256);
  });

  it('passes 304 and the full tar.gz payload through', async () => {
    const notModified = await download(`${agent.httpUrl}${check}`, { 'if-none-match': `"${md5}"` });
    expect(notModified.status).toBe(304);

    const viaAgent = await tarEntries(`${agent.httpUrl}${check}`);
    const direct = await tarEntries(`${origin.url}${check}`);
    expect(viaAgent.contentType).toBe('application/gzip');
    expect(viaAgent.entries.map((e) => e.name)).toEqual(['package_details.json', 'os_armv8_5.6.14']);
    expect(viaAgent.entries.map((e) => e.sha256)).toEqual(direct.entries.map((e) => e.sha256));
    expect(viaAgent.entries[1].sha256).toBe(sha256);
  });

  it('lets a device check what the agent serves with the openssl example of docs/device-verification.md', async () => {
    const script = resolve(__dirname, '../../../docs/examples/verify-manifest.sh');
    const keys = join(work.dir, 'device-keys');
    // The keys are pinned from the origin; the manifest and the bytes come through the agent.
    expect(spawnSync('sh', [script, 'pin', origin.url, keys], { encoding: 'utf8' }).status).toBe(0);
    const firmware = join(work.dir, 'via-agent.bin');
    const response = await httpRequest(`${agent.httpUrl}/artifacts/${sha256}`);
    await pipeline(response, createWriteStream(firmware));
    const verified = spawnSync('sh', [script, 'verify', `${agent.httpUrl}/manifests/${sha256}`, keys, firmware], { encoding: 'utf8' });
    expect(verified.stderr).toBe('');
    expect(verified.stdout).toMatch(new RegExp(`^verified ${sha256} \\(${size} bytes, 6 chunks, key [0-9a-f]{16}\\)\n$`));
  });

  it('serves HEAD, single ranges and 416 like the origin', async () => {
    const head = await httpRequest(`${agent.httpUrl}/artifacts/${sha256}`, { method: 'HEAD' });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe(String(size));
    expect(head.headers['accept-ranges']).toBe('bytes');
    head.resume();

    const original = await readFile(join(work.dir, 'os.bin'));
    const middle = await download(`${agent.httpUrl}/artifacts/${sha256}`, { range: `bytes=${MiB - 10}-${3 * MiB + 10}` });
    expect(middle.status).toBe(206);
    expect(middle.sha256).toBe(
      createHash('sha256')
        .update(original.subarray(MiB - 10, 3 * MiB + 11))
        .digest('hex'),
    );
    const tail = await download(`${agent.httpUrl}/artifacts/${sha256}`, { range: 'bytes=-123' });
    expect(tail.status).toBe(206);
    expect(tail.sha256).toBe(
      createHash('sha256')
        .update(original.subarray(size - 123))
        .digest('hex'),
    );
    expect((await download(`${agent.httpUrl}/artifacts/${sha256}`, { range: `bytes=${size}-` })).status).toBe(416);
    expect((await download(`${agent.httpUrl}/artifacts/${'0'.repeat(64)}`)).status).toBe(404);
  });

  it('keeps its peerId across restarts and prints nothing on stdout but the ready line', async () => {
    const before = agent.peerId;
    await agent.stop();
    agent = await startAgentProcess({ ...agent.options });
    expect(agent.peerId).toBe(before);
    expect(agent.peerId).toMatch(/^12D3KooW/);
    expect(await readFile(agent.options.logFile, 'utf8')).not.toContain('UNEXPECTED STDOUT');
  });

  it('fetches everything from the origin with --no-p2p (the reference run)', async () => {
    const reference = await startAgentProcess({ origin: origin.url, site: 'device-site', cacheDir: join(work.dir, 'cache-ref'), logFile: join(work.dir, 'ref.log'), p2p: false });
    try {
      expect(reference.peerId).toBeNull();
      expect((await download(`${reference.httpUrl}/artifacts/${sha256}`)).sha256).toBe(sha256);
      expect(await reference.metric('ota_peer_bytes_total', { source: 'origin' })).toBe(size);
      expect(await reference.metric('ota_peer_bytes_total', { source: 'peer' })).toBe(0);
    } finally {
      await reference.stop();
    }
  });

  it('refuses bad options with a clear message and exit code 2', () => {
    const result = spawnSync(process.execPath, [AGENT_MAIN, '--origin', origin.url, '--site', 'x', '--cache', join(work.dir, 'c'), '--upload-limit', 'lots'], { encoding: 'utf8' });
    expect(result.status).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--upload-limit must be a size');
  });
});
