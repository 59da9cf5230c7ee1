import { createHash } from 'node:crypto';
import type { Manifest } from './manifest';

/** The part of a manifest that decides where chunks start and end. */
export type ChunkLayout = Pick<Manifest, 'size' | 'chunkSize'>;

/** Number of chunks an artifact of `size` bytes has (0 for an empty file). */
export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Exact length of chunk `index` (the last one may be short). */
export function chunkLength(layout: ChunkLayout, index: number): number {
  const start = index * layout.chunkSize;
  return Math.max(0, Math.min(layout.chunkSize, layout.size - start));
}

/** The bytes chunks `first`..`last` (inclusive) occupy in the file: `start` inclusive, `end` exclusive. */
export function chunkByteRange(layout: ChunkLayout, first: number, last: number): { start: number; end: number } {
  return { start: first * layout.chunkSize, end: last * layout.chunkSize + chunkLength(layout, last) };
}

/** The chunks (inclusive) that hold the bytes `firstByte`..`lastByte` (inclusive) of the file. */
export function chunksHolding(layout: Pick<Manifest, 'chunkSize'>, firstByte: number, lastByte: number): { first: number; last: number } {
  return { first: Math.floor(firstByte / layout.chunkSize), last: Math.floor(lastByte / layout.chunkSize) };
}

/** True when `data` is chunk `index` of the manifest (length and SHA-256). */
export function chunkMatches(manifest: Pick<Manifest, 'size' | 'chunkSize' | 'chunks'>, index: number, data: Uint8Array): boolean {
  if (data.byteLength !== chunkLength(manifest, index)) return false;
  return createHash('sha256').update(data).digest('hex') === manifest.chunks[index];
}
