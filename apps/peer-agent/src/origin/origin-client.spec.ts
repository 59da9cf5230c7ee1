import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { makeArtifact, makeKey } from '@peer-agent/test-support/fixtures';
import { OriginClient, OriginError } from './origin-client';

const artifact = makeArtifact(10 * 1024 + 100, 1024, makeKey());
const path = `/artifacts/${artifact.manifest.sha256}`;

/** Serves `artifact` with single ranges like the appliance; `behave` can answer instead. */
function serve(behave?: (req: IncomingMessage, res: ServerResponse) => boolean): Promise<{ server: Server; url: string; ranges: string[] }> {
  const ranges: string[] = [];
  const server = createServer((req, res) => {
    ranges.push(`${req.url} ${req.headers.range}`);
    if (behave?.(req, res)) return;
    if (req.url !== path) return void res.writeHead(404).end();
    const [, from, to] = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? '')!;
    const body = artifact.data.subarray(Number(from), Number(to) + 1);
    res.writeHead(206, { 'content-length': body.byteLength, 'content-range': `bytes ${from}-${to}/${artifact.data.byteLength}` });
    // In small pieces, so that chunks straddle reads.
    for (let offset = 0; offset < body.byteLength; offset += 700) res.write(body.subarray(offset, offset + 700));
    res.end();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, ranges })));
}

describe(`${OriginClient.name} chunk ranges`, () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it('gets consecutive chunks with one range request, handing over each whole chunk in order', async () => {
    const origin = await serve();
    server = origin.server;
    const got: Array<[number, Buffer]> = [];
    await new OriginClient(origin.url).getChunks(artifact.manifest, 7, 10, (index, data) => got.push([index, Buffer.from(data)]));
    expect(origin.ranges).toEqual([`${path} bytes=${7 * 1024}-${artifact.data.byteLength - 1}`]);
    expect(got.map(([i]) => i)).toEqual([7, 8, 9, 10]);
    for (const [i, data] of got) expect(data.equals(artifact.chunk(i))).toBe(true);
    expect((await new OriginClient(origin.url).getChunk(artifact.manifest, 2)).equals(artifact.chunk(2))).toBe(true);
  });

  it('follows a redirect', async () => {
    const target = await serve();
    const redirecting = await serve((req, res) => {
      res.writeHead(302, { location: `${target.url}${req.url}` }).end();
      return true;
    });
    server = target.server;
    try {
      expect((await new OriginClient(redirecting.url).getChunk(artifact.manifest, 3)).equals(artifact.chunk(3))).toBe(true);
    } finally {
      redirecting.server.closeAllConnections();
      redirecting.server.close();
    }
  });

  it('refuses an origin that ignores Range, and one that sends more than asked', async () => {
    const ignoring = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': artifact.data.byteLength }).end(artifact.data);
      return true;
    });
    server = ignoring.server;
    await expect(new OriginClient(ignoring.url).getChunk(artifact.manifest, 1)).rejects.toThrow(/HTTP 200/);
    server.closeAllConnections();
    server.close();

    const chatty = await serve((_req, res) => {
      res.writeHead(206);
      res.end(Buffer.alloc(3000));
      return true;
    });
    server = chatty.server;
    await expect(new OriginClient(chatty.url).getChunk(artifact.manifest, 1)).rejects.toThrow(/exceeds/);
  });

  it('hands over the chunks that arrived before a response broke off, then reports it', async () => {
    const breaking = await serve((_req, res) => {
      res.writeHead(206, { 'content-length': 3 * 1024 });
      res.write(artifact.data.subarray(0, 1500));
      setTimeout(() => res.socket?.destroy(), 20);
      return true;
    });
    server = breaking.server;
    const got: number[] = [];
    await expect(new OriginClient(breaking.url).getChunks(artifact.manifest, 0, 2, (index) => got.push(index))).rejects.toThrow(OriginError);
    expect(got).toEqual([0]);
  });
});

describe(`${OriginClient.name} roster registration`, () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((r) => server?.close(r));
  });

  it("reports why the appliance refused a registration, in the appliance's words", async () => {
    const message = 'peer id 12D3KooW… is bound to another device; an operator can release it with DELETE /api/v1/peers/{peerId}';
    const origin = await serve((req, res) => {
      if (req.url !== '/peers/register') return false;
      res.writeHead(409, { 'content-type': 'application/json' }).end(JSON.stringify({ statusCode: 409, error: 'Conflict', message }));
      return true;
    });
    server = origin.server;
    const refused = await new OriginClient(origin.url).register({ site: 'plant-7', peerId: 'p', addrs: [] }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(OriginError);
    expect((refused as OriginError).message).toBe(`POST /peers/register: HTTP 409: ${message}`);
  });

  it('still reports the status when the refusal has no readable message', async () => {
    const origin = await serve((req, res) => {
      if (req.url !== '/peers/register') return false;
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html>bad gateway</html>');
      return true;
    });
    server = origin.server;
    const refused = await new OriginClient(origin.url).register({ site: 'plant-7', peerId: 'p', addrs: [] }).catch((error: unknown) => error);
    expect((refused as OriginError).message).toBe('POST /peers/register: HTTP 502');
  });
});
