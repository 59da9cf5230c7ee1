import { ManifestRejectedError, type Manifest } from '@app/manifest';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { makeArtifact, makeKey, type TestArtifact } from '@peer-agent/test-support/fixtures';
import { download, getJson, httpRequest } from '@peer-agent/test-support/http-client';
import { ArtifactNotFoundError } from '../fetch/manifest-service';
import { silentLogger } from '../logging/logger';
import { AgentMetrics } from '../metrics/agent-metrics';
import { createDeviceServer, type ArtifactSource, type PackageOrigin } from './device-server';

const key = makeKey();
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Serves one in-memory artifact; chunks at or after `gateFrom` wait until `open()`. */
class MemorySource implements ArtifactSource {
  gateFrom = Infinity;
  failAt = Infinity;
  requested: number[] = [];
  private opened!: () => void;
  private readonly gate = new Promise<void>((r) => (this.opened = r));
  constructor(
    readonly artifact: TestArtifact,
    readonly rejection?: Error,
  ) {}
  open(): void {
    this.opened();
  }
  async manifest(sha256: string) {
    if (this.rejection) throw this.rejection;
    if (sha256 !== this.artifact.manifest.sha256) throw new ArtifactNotFoundError(sha256);
    return this.artifact.signed;
  }
  async chunk(_m: Manifest, index: number): Promise<Uint8Array> {
    this.requested.push(index);
    this.events.push(`chunk ${index}`);
    if (index >= this.gateFrom) await this.gate;
    if (index >= this.failAt) throw new Error('no source has this chunk');
    return this.artifact.chunk(index);
  }
  prefetch(_m: Manifest, index: number): void {
    this.events.push(`prefetch ${index}`);
  }
  pin(): () => void {
    return () => undefined;
  }
  /** prefetch and chunk calls, in order. */
  events: string[] = [];
}

/** A source that also remembers whether the whole file was shown to match the manifest (like the agent's store). */
class VerifyingSource extends MemorySource {
  proven = 0;
  known = false;
  isWholeVerified(): boolean {
    return this.known;
  }
  wholeVerified(): void {
    this.proven++;
    this.known = true;
  }
}

describe(createDeviceServer.name, () => {
  const artifact = makeArtifact(10 * 1024 + 100, 1024, key);
  const path = `/artifacts/${artifact.manifest.sha256}`;
  let server: Server;
  let base: string;
  let source: MemorySource;
  let upstream: { search: string; headers: Record<string, string> } | undefined;
  let packageResponse: () => Response;

  async function start(src: MemorySource, publicUrl?: string): Promise<void> {
    source = src;
    const packages: PackageOrigin = {
      package: async (search, headers) => {
        upstream = { search, headers };
        return packageResponse();
      },
    };
    server = createDeviceServer({ artifacts: source, packages, metrics: new AgentMetrics(), log: silentLogger(), health: () => ({ peers: [] }), publicUrl, readAhead: 4 });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  describe('artifacts', () => {
    beforeEach(() => start(new MemorySource(artifact)));

    it('serves the whole file with its length and ETag', async () => {
      const d = await download(`${base}${path}`);
      expect(d.status).toBe(200);
      expect(d.sha256).toBe(artifact.manifest.sha256);
      expect(d.headers['content-length']).toBe(String(artifact.manifest.size));
      expect(d.headers.etag).toBe(`"${artifact.manifest.sha256}"`);
      expect(d.headers['cache-control']).toContain('immutable');
    });

    it('serves a single range across chunk boundaries with 206', async () => {
      const d = await download(`${base}${path}`, { range: 'bytes=1000-3100' });
      expect(d.status).toBe(206);
      expect(d.headers['content-range']).toBe(`bytes 1000-3100/${artifact.manifest.size}`);
      expect(d.sha256).toBe(sha(artifact.data.subarray(1000, 3101)));
      expect(source.requested).toEqual([0, 1, 2, 3]);
    });

    it('serves an open-ended range (a device resuming)', async () => {
      const d = await download(`${base}${path}`, { range: 'bytes=5000-' });
      expect(d.status).toBe(206);
      expect(d.sha256).toBe(sha(artifact.data.subarray(5000)));
    });

    it('answers 416 for a range past the end', async () => {
      const d = await download(`${base}${path}`, { range: `bytes=${artifact.manifest.size}-` });
      expect(d.status).toBe(416);
      expect(d.headers['content-range']).toBe(`bytes */${artifact.manifest.size}`);
    });

    it("honours If-Range with the origin's ETag (the SHA-256) or the MD5", async () => {
      for (const tag of [artifact.manifest.sha256, artifact.manifest.md5]) {
        const d = await download(`${base}${path}`, { range: 'bytes=0-9', 'if-range': `"${tag}"` });
        expect(d.status).toBe(206);
        expect(d.bytes).toBe(10);
      }
    });

    it('ignores a range when If-Range does not match', async () => {
      const d = await download(`${base}${path}`, { range: 'bytes=0-9', 'if-range': '"stale"' });
      expect(d.status).toBe(200);
      expect(d.bytes).toBe(artifact.manifest.size);
    });

    it('answers 304 to a device that already has it', async () => {
      for (const tag of [artifact.manifest.sha256, artifact.manifest.md5]) {
        const d = await download(`${base}${path}`, { 'if-none-match': `"${tag}"` });
        expect(d.status).toBe(304);
        expect(d.bytes).toBe(0);
      }
    });

    it('answers HEAD without a body and without fetching chunks', async () => {
      const res = await httpRequest(`${base}${path}`, { method: 'HEAD' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-length']).toBe(String(artifact.manifest.size));
      expect(source.requested).toEqual([]);
    });

    it('answers 404 for an unknown artifact', async () => {
      expect((await download(`${base}/artifacts/${'0'.repeat(64)}`)).status).toBe(404);
    });

    it('serves the signed manifest', async () => {
      const { status, body } = await getJson(`${base}/manifests/${artifact.manifest.sha256}`);
      expect(status).toBe(200);
      expect(body).toEqual(artifact.signed);
    });
  });

  it('sends the first chunk before later chunks exist', async () => {
    const gated = new MemorySource(artifact);
    gated.gateFrom = 1;
    await start(gated);
    let resolveFirst!: () => void;
    const gotFirstChunk = new Promise<void>((r) => (resolveFirst = r));
    const transfer = download(`${base}${path}`, {}, (received) => {
      if (received >= 1024) resolveFirst();
    });
    await gotFirstChunk; // would never resolve if the server waited for the whole file
    gated.open();
    expect((await transfer).sha256).toBe(artifact.manifest.sha256);
  });

  it('cuts the connection when a later chunk cannot be obtained, so the device resumes instead of keeping a short file', async () => {
    const failing = new MemorySource(artifact);
    failing.failAt = 5;
    await start(failing);
    const d = await download(`${base}${path}`);
    expect(d.status).toBe(200);
    expect(d.complete).toBe(false);
    expect(d.bytes).toBeLessThan(artifact.manifest.size);
  });

  it('asks for each chunk ahead of time, topping the read-ahead up in batches', async () => {
    const source = new MemorySource(artifact);
    await start(source);
    expect((await download(`${base}${path}`)).sha256).toBe(artifact.manifest.sha256);
    const last = artifact.manifest.chunks.length - 1;
    for (let i = 1; i <= last; i++) expect(source.events.indexOf(`prefetch ${i}`)).toBeLessThan(source.events.indexOf(`chunk ${i}`));
    // readAhead 4: chunks 0..4 at once, then every two chunks the window is topped up again, so
    // that the new chunks (two at a time, consecutive) can share an origin request.
    const groups = source.events
      .join(',')
      .split(/,?chunk \d+,?/)
      .filter(Boolean)
      .map((g) => g.replaceAll('prefetch ', ''));
    expect(groups).toEqual(['0,1,2,3,4', '2,3,4,5,6', '4,5,6,7,8', '6,7,8,9,10', '8,9,10', '10']);
  });

  it('hashes a full download whole until the file has been shown to match the manifest once', async () => {
    const other = makeArtifact(5 * 1024, 1024, key);
    const lyingManifest = { ...other.manifest, sha256: artifact.manifest.sha256 };
    const lying: TestArtifact = { ...other, manifest: lyingManifest, signed: { ...other.signed, manifest: lyingManifest } };
    const truthful = new VerifyingSource(artifact);
    await start(truthful);
    expect((await download(`${base}${path}`, { range: 'bytes=0-99' })).status).toBe(206);
    expect(truthful.proven).toBe(0); // a range proves nothing about the whole file
    expect((await download(`${base}${path}`)).complete).toBe(true);
    expect(truthful.proven).toBe(1);
    expect((await download(`${base}${path}`)).complete).toBe(true);
    expect(truthful.proven).toBe(1); // not hashed again

    // A manifest whose chunks do not make up its SHA-256: the first full download is cut.
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    const liar = new VerifyingSource(lying);
    await start(liar);
    const cut = await download(`${base}${path}`);
    expect(cut.complete).toBe(false);
    expect(liar.proven).toBe(0);
  });

  it('gives the device an error, never bytes, when the manifest is rejected', async () => {
    await start(new MemorySource(artifact, new ManifestRejectedError('bad-signature', 'nope')));
    const d = await download(`${base}${path}`);
    expect(d.status).toBe(502);
    expect(d.headers['content-type']).toBe('application/json');
    expect(JSON.parse(d.text!)).toEqual({ error: 'manifest-rejected', reason: 'bad-signature' });
    expect(source.requested).toEqual([]);
  });

  describe('/package', () => {
    const originDoc = {
      modemFW: {
        latestVersion: '1.2.3',
        url: `https://ota.example.com/artifacts/${artifact.manifest.sha256}`,
        manifestUrl: `https://ota.example.com/manifests/${artifact.manifest.sha256}`,
        sha256: artifact.manifest.sha256,
        md5: artifact.manifest.md5,
        size: artifact.manifest.size,
        status_code: 200,
      },
    };

    it('points url and manifestUrl at the agent, keeping the rest and the caching headers', async () => {
      await start(new MemorySource(artifact));
      packageResponse = () => Response.json(originDoc, { headers: { etag: '"d1"', 'cache-control': 'public, max-age=100', vary: 'If-None-Match' } });
      const { status, body, headers } = await getJson<typeof originDoc>(`${base}/package?cpuArch=armv8&payloadType=metadataOnly`, { 'if-none-match': '"abc"' });
      expect(status).toBe(200);
      expect(body.modemFW).toEqual({ ...originDoc.modemFW, url: `${base}${path}`, manifestUrl: `${base}/manifests/${artifact.manifest.sha256}` });
      expect(headers.etag).toBe('"d1"');
      expect(headers['cache-control']).toBe('public, max-age=100');
      expect(headers.vary).toBe('If-None-Match');
      expect(upstream).toEqual({ search: '?cpuArch=armv8&payloadType=metadataOnly', headers: expect.objectContaining({ 'if-none-match': '"abc"' }) });
    });

    it('uses --public-url when set', async () => {
      await start(new MemorySource(artifact), 'https://gw.plant-7.example');
      packageResponse = () => Response.json(originDoc);
      const { body } = await getJson<typeof originDoc>(`${base}/package?cpuArch=armv8&payloadType=metadataOnly`);
      expect(body.modemFW.url).toBe(`https://gw.plant-7.example${path}`);
    });

    it('passes a 304 and a full tar.gz payload through unchanged', async () => {
      await start(new MemorySource(artifact));
      packageResponse = () => new Response(null, { status: 304, headers: { etag: '"d1"' } });
      const notModified = await download(`${base}/package?cpuArch=armv8`);
      expect(notModified.status).toBe(304);
      expect(notModified.headers.etag).toBe('"d1"');

      const gz = gzipSync(Buffer.alloc(200_000, 3));
      packageResponse = () => new Response(gz, { headers: { 'content-type': 'application/gzip', 'content-length': String(gz.length) } });
      const full = await download(`${base}/package?cpuArch=armv8`);
      expect(full.status).toBe(200);
      expect(full.headers['content-type']).toBe('application/gzip');
      expect(full.headers['content-encoding']).toBeUndefined();
      expect(full.sha256).toBe(sha(gz));
    });

    it('passes origin errors through', async () => {
      await start(new MemorySource(artifact));
      packageResponse = () => Response.json({ error: 'cpuArch is required' }, { status: 400 });
      const d = await download(`${base}/package`);
      expect(d.status).toBe(400);
      expect(JSON.parse(d.text!)).toEqual({ error: 'cpuArch is required' });
    });
  });

  it('exposes /healthz and /metrics', async () => {
    await start(new MemorySource(artifact));
    expect((await getJson(`${base}/healthz`)).body).toEqual({ status: 'ok', peers: [] });
    const metrics = await download(`${base}/metrics`);
    expect(metrics.status).toBe(200);
  });
});
