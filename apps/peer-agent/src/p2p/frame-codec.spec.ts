import { MemoryStream } from '../../test-support/fixtures';
import { FrameError, FrameReader, frameHeader, writeFrame, WRITE_SLICE_BYTES, type SendPacer } from './frame-codec';

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
});
