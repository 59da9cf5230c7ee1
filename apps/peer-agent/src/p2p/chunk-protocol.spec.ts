import { MemoryStream } from '@peer-agent/test-support/fixtures';
import { frameHeader, writeFrame } from './frame-codec';
import {
  MAX_REQUEST_FRAME,
  parseRequest,
  ProtocolViolationError,
  requestChunk,
  requestInfo,
  requestManifest,
  serveStream,
  STATUS,
  type ChunkRequest,
  type PeerRequestHandler,
} from './chunk-protocol';

const sha256 = 'ab'.repeat(32);
const chunk = Buffer.alloc(5000, 9);

function handler(overrides: Partial<PeerRequestHandler> = {}): PeerRequestHandler {
  return {
    chunk: async (req: ChunkRequest) => (req.index === 0 ? chunk : undefined),
    manifest: async () => Buffer.from(JSON.stringify({ manifest: { sha256 }, signature: 'x' })),
    info: () => ({ site: 'plant-7', peerId: 'peer-b' }),
    ...overrides,
  };
}

async function ask<T>(serve: PeerRequestHandler, client: (s: MemoryStream) => Promise<T>, options = {}): Promise<{ reply: T; served: Awaited<ReturnType<typeof serveStream>> }> {
  const [asker, server] = MemoryStream.pair();
  const [reply, served] = await Promise.all([client(asker), serveStream(server, 'peer-a', serve, { idleTimeoutMs: 1000, ...options })]);
  return { reply, served };
}

describe('/ota/chunk/1.0.0', () => {
  it('answers a chunk it has', async () => {
    const { reply, served } = await ask(handler(), (s) => requestChunk(s, { op: 'chunk', sha256, index: 0, fetch: false }, chunk.length, 1000));
    expect(reply.kind).toBe('hit');
    expect(reply.kind === 'hit' && Buffer.from(reply.data)).toEqual(chunk);
    expect(served).toEqual({ op: 'chunk', result: 'hit', bytes: chunk.length });
  });

  it('answers a miss for a chunk it lacks', async () => {
    const { reply } = await ask(handler(), (s) => requestChunk(s, { op: 'chunk', sha256, index: 1, fetch: false }, chunk.length, 1000));
    expect(reply).toEqual({ kind: 'miss' });
  });

  it('passes the fetch flag to the handler and reports its failure as a miss with a reason', async () => {
    const seen: ChunkRequest[] = [];
    const failing = handler({
      chunk: async (req) => {
        seen.push(req);
        throw new Error('origin down');
      },
    });
    const { reply, served } = await ask(failing, (s) => requestChunk(s, { op: 'chunk', sha256, index: 3, fetch: true }, chunk.length, 1000));
    expect(seen).toEqual([{ op: 'chunk', sha256, index: 3, fetch: true }]);
    expect(reply).toEqual({ kind: 'miss', reason: 'origin down' });
    expect(served.result).toBe('error');
  });

  it('treats an answer longer than the expected chunk as a protocol violation', async () => {
    await expect(ask(handler(), (s) => requestChunk(s, { op: 'chunk', sha256, index: 0, fetch: false }, chunk.length - 1, 1000))).rejects.toThrow(ProtocolViolationError);
  });

  it('corrupts what it serves only under the test fault', async () => {
    const { reply } = await ask(handler(), (s) => requestChunk(s, { op: 'chunk', sha256, index: 0, fetch: false }, chunk.length, 1000), { corruptChunks: true });
    expect(reply.kind === 'hit' && Buffer.from(reply.data).equals(chunk)).toBe(false);
    expect(chunk.every((b) => b === 9)).toBe(true); // the original is untouched
  });

  it('serves manifests and site info', async () => {
    expect((await ask(handler(), (s) => requestManifest(s, sha256, 1000))).reply).toEqual({ manifest: { sha256 }, signature: 'x' });
    expect((await ask(handler(), (s) => requestInfo(s, 1000))).reply).toEqual({ site: 'plant-7', peerId: 'peer-b' });
    expect((await ask(handler({ manifest: async () => undefined }), (s) => requestManifest(s, sha256, 1000))).reply).toBeUndefined();
  });

  it('refuses an oversized request frame without reading it', async () => {
    const [asker, server] = MemoryStream.pair();
    asker.send(frameHeader(MAX_REQUEST_FRAME + 1));
    await expect(serveStream(server, 'peer-a', handler(), { idleTimeoutMs: 1000 })).rejects.toMatchObject({ code: 'too-large' });
  });

  it('refuses a malformed request', async () => {
    const [asker, server] = MemoryStream.pair();
    await writeFrame(asker, [Buffer.from('{"op":"chunk","sha256":"nope","index":0}')], { idleTimeoutMs: 1000 });
    await expect(serveStream(server, 'peer-a', handler(), { idleTimeoutMs: 1000 })).rejects.toThrow(ProtocolViolationError);
  });

  it('times out a peer that opens a stream and says nothing', async () => {
    const [, server] = MemoryStream.pair();
    await expect(serveStream(server, 'peer-a', handler(), { idleTimeoutMs: 30 })).rejects.toMatchObject({ code: 'timeout' });
  });
});

describe(parseRequest.name, () => {
  it.each([['{"op":"chunk","sha256":"' + sha256 + '","index":-1}'], ['{"op":"chunk","sha256":"' + sha256 + '","index":1.5}'], ['{"op":"delete"}'], ['[]']])(
    'rejects %s',
    (text) => {
      expect(() => parseRequest(Buffer.from(text))).toThrow(ProtocolViolationError);
    },
  );

  it('defaults fetch to false', () => {
    expect(parseRequest(Buffer.from(`{"op":"chunk","sha256":"${sha256}","index":2}`))).toEqual({ op: 'chunk', sha256, index: 2, fetch: false });
  });

  it('uses distinct status bytes', () => {
    expect(new Set(Object.values(STATUS)).size).toBe(3);
  });
});
