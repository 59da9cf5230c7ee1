import { MemoryStream } from '@peer-agent/test-support/fixtures';
import { FIRST_SEND_BYTES, FrameError, FrameReader, frameHeader, writeFrame, WRITE_SLICE_BYTES, type ByteChunk, type SendPacer } from './frame-codec';

async function* pieces(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const p of parts) yield p;
}

describe(FrameReader.name, () => {
  it('reads frames split across and packed into arbitrary reads', async () => {
    const a = Buffer.from('hello');
    const b = Buffer.alloc(70_000, 7);
    const wire = Buffer.concat([frameHeader(a.length), a, frameHeader(b.length), b, frameHeader(0)]);
    const split = [wire.subarray(0, 2), wire.subarray(2, 9), wire.subarray(9, 40_000), wire.subarray(40_000)];
    const reader = new FrameReader(pieces(...split), 1000);
    expect(Buffer.from((await reader.read(100))!).toString()).toBe('hello');
    expect(Buffer.from((await reader.read(100_000))!)).toEqual(b);
    expect((await reader.read(10))!.byteLength).toBe(0);
    expect(await reader.read(10)).toBeUndefined();
  });

  it('takes the parts of a list as they are (no copy per read) and copies a frame once', async () => {
    const payload = Buffer.alloc(300_000, 9);
    const wire = Buffer.concat([frameHeader(payload.length), payload]);
    // Like a libp2p Uint8ArrayList: iterable parts; subarray() would copy them all into one array.
    const list = (...parts: Buffer[]): ByteChunk => ({
      byteLength: parts.reduce((n, p) => n + p.byteLength, 0),
      subarray: () => {
        throw new Error('copied the whole list');
      },
      [Symbol.iterator]: () => parts[Symbol.iterator](),
    });
    async function* reads(): AsyncGenerator<ByteChunk> {
      yield list(wire.subarray(0, 3), wire.subarray(3, 100_000));
      yield list(wire.subarray(100_000, 250_000), wire.subarray(250_000));
    }
    const frame = await new FrameReader(reads(), 1000).read(payload.length);
    expect(Buffer.from(frame!).equals(payload)).toBe(true);
  });

  it('refuses a frame above the maximum before reading its body', async () => {
    const reader = new FrameReader(pieces(frameHeader(1_000_001)), 1000);
    await expect(reader.read(1_000_000)).rejects.toMatchObject({ code: 'too-large' });
  });

  it('reports a stream that ends inside a frame', async () => {
    const reader = new FrameReader(pieces(Buffer.concat([frameHeader(10), Buffer.from('abc')])), 1000);
    await expect(reader.read(100)).rejects.toMatchObject({ code: 'truncated' });
  });

  it('gives up when the peer sends nothing for the idle timeout', async () => {
    const [, silent] = MemoryStream.pair();
    const reader = new FrameReader(silent, 50);
    await expect(reader.read(100)).rejects.toThrow(FrameError);
    await expect(new FrameReader(silent, 50).read(100)).rejects.toMatchObject({ code: 'timeout' });
  });

  it('stops waiting when its signal aborts', async () => {
    const [, silent] = MemoryStream.pair();
    const controller = new AbortController();
    const read = new FrameReader(silent, 60_000).read(100, controller.signal);
    controller.abort();
    await expect(read).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe(writeFrame.name, () => {
  it('writes header and payload in bounded slices, each paced', async () => {
    const [a, b] = MemoryStream.pair();
    const taken: number[] = [];
    const pacer: SendPacer = { take: async (n) => void taken.push(n) };
    const payload = Buffer.alloc(WRITE_SLICE_BYTES * 2 + 10, 1);
    await writeFrame(a, [Uint8Array.of(0), payload], { idleTimeoutMs: 1000, pacer });
    expect(Math.max(...a.sent.map((s) => s.byteLength))).toBeLessThanOrEqual(WRITE_SLICE_BYTES);
    expect(taken.reduce((x, y) => x + y, 0)).toBe(4 + 1 + payload.length);
    const frame = await new FrameReader(b, 1000).read(payload.length + 1);
    expect(frame!.byteLength).toBe(payload.length + 1);
  });

  it('sends a small frame, header included, in one piece', async () => {
    const [a, b] = MemoryStream.pair();
    await writeFrame(a, [Uint8Array.of(1), Buffer.from('{"op":"info"}')], { idleTimeoutMs: 1000 });
    expect(a.sent).toHaveLength(1);
    expect(Buffer.from((await new FrameReader(b, 1000).read(100))!).toString()).toBe('\x01{"op":"info"}');
  });

  it('without a pacer, sends the header with the start of a large payload, then the rest at once', async () => {
    const [a, b] = MemoryStream.pair();
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32BE(i, i);
    await writeFrame(a, [Uint8Array.of(0), payload], { idleTimeoutMs: 1000 });
    expect(a.sent.map((s) => s.byteLength)).toEqual([FIRST_SEND_BYTES, 4 + 1 + payload.length - FIRST_SEND_BYTES]);
    const frame = await new FrameReader(b, 1000).read(payload.length + 1);
    expect(frame![0]).toBe(0);
    expect(Buffer.from(frame!.subarray(1)).equals(payload)).toBe(true);
  });
});
