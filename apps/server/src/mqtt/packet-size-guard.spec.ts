import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { PacketSizeGuard, PacketTooLargeError } from './packet-size-guard';

/** An MQTT PUBLISH packet (QoS 0) with the given payload, encoded by hand for the test. */
function publishPacket(topic: string, payload: Buffer): Buffer {
  const topicBytes = Buffer.from(topic);
  const body = Buffer.concat([Buffer.from([topicBytes.length >> 8, topicBytes.length & 0xff]), topicBytes, payload]);
  const length: number[] = [];
  let remaining = body.length;
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    length.push(byte);
  } while (remaining > 0);
  return Buffer.concat([Buffer.from([0x30, ...length]), body]);
}

async function through(limit: number, chunks: Buffer[]): Promise<string> {
  return text(Readable.from(chunks).pipe(new PacketSizeGuard(limit)));
}

describe(PacketSizeGuard.name, () => {
  it('passes packets under the limit unchanged, however the stream is cut', async () => {
    const stream = Buffer.concat([publishPacket('a/b', Buffer.alloc(300, 65)), Buffer.from([0xc0, 0x00]), publishPacket('c', Buffer.alloc(20_000, 66))]);
    const slices = [stream.subarray(0, 1), stream.subarray(1, 3), stream.subarray(3, 310), stream.subarray(310)];
    expect(await through(64 * 1024, slices)).toBe(stream.toString());
  });

  it('fails the stream at the header of a packet over the limit', async () => {
    const big = publishPacket('t', Buffer.alloc(200 * 1024));
    const guard = new PacketSizeGuard(64 * 1024);
    const failed = new Promise<Error>((resolve) => guard.once('error', resolve));
    Readable.from([big.subarray(0, 4)])
      .pipe(guard)
      .resume();
    const error = await failed;
    expect(error).toBeInstanceOf(PacketTooLargeError);
    expect((error as PacketTooLargeError).size).toBe(big.length);
  });
});
