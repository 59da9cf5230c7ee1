import { chunkByteRange, chunkCount, chunkLength, chunkMatches, chunksHolding } from './chunks';
import { makeArtifact, makeKey } from './testing/signed-artifacts';

const artifact = makeArtifact(2.5 * 1024, 1024, makeKey());

describe('chunk geometry', () => {
  it('has ceil(size / chunkSize) chunks, the last one short', () => {
    expect(chunkCount(0, 1024)).toBe(0);
    expect(chunkCount(2560, 1024)).toBe(3);
    expect([0, 1, 2].map((i) => chunkLength(artifact.manifest, i))).toEqual([1024, 1024, 512]);
  });

  it('matches a chunk only with the right bytes and length', () => {
    expect(chunkMatches(artifact.manifest, 2, artifact.chunk(2))).toBe(true);
    const flipped = Buffer.from(artifact.chunk(2));
    flipped[100] ^= 0x10;
    expect(chunkMatches(artifact.manifest, 2, flipped)).toBe(false);
    expect(chunkMatches(artifact.manifest, 1, artifact.chunk(2))).toBe(false);
  });

  it.each([
    [0, 0, { start: 0, end: 1024 }],
    [1, 2, { start: 1024, end: 2560 }],
    [2, 2, { start: 2048, end: 2560 }],
    [0, 2, { start: 0, end: 2560 }],
  ])('places chunks %i..%i at the bytes %o', (first, last, range) => {
    expect(chunkByteRange(artifact.manifest, first, last)).toEqual(range);
  });

  it.each([
    [0, 0, { first: 0, last: 0 }],
    [0, 1023, { first: 0, last: 0 }],
    [1023, 1024, { first: 0, last: 1 }],
    [1500, 2559, { first: 1, last: 2 }],
  ])('finds bytes %i..%i in chunks %o', (firstByte, lastByte, chunks) => {
    expect(chunksHolding(artifact.manifest, firstByte, lastByte)).toEqual(chunks);
  });
});
