import type { Request, Response } from 'express';
import rangeParser from 'range-parser';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import type { ByteRange } from '../storage/object-store';

export interface StoredBinary {
  sha256: string;
  size: number;
  createdAt: Date;
}

export const IMMUTABLE_CACHE_CONTROL = 'public, max-age=31536000, immutable';

function etagOf(binary: StoredBinary): string {
  return `"${binary.sha256}"`;
}

function matchesEtag(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((token) => token.trim().replace(/^W\//, '') === etag);
}

/**
 * Decides which bytes to send for a GET/HEAD of an immutable binary: the whole, one range (206),
 * an unsatisfiable range (416) or nothing new (304). Multiple ranges get the whole file, which
 * every client handles, instead of multipart/byteranges, which few do.
 */
export function planBinaryResponse(request: Pick<Request, 'headers'>, binary: StoredBinary): { status: 200 | 206 | 304 | 416; range?: ByteRange } {
  const etag = etagOf(binary);
  if (matchesEtag(request.headers['if-none-match'], etag)) return { status: 304 };
  const rangeHeader = request.headers.range;
  if (!rangeHeader || binary.size === 0) return { status: 200 };
  const ifRange = request.headers['if-range'] as string | undefined;
  if (ifRange !== undefined) {
    const sameEntity = ifRange.trim() === etag || (!ifRange.includes('"') && Date.parse(ifRange) >= Math.floor(binary.createdAt.getTime() / 1000) * 1000);
    if (!sameEntity) return { status: 200 };
  }
  const ranges = rangeParser(binary.size, rangeHeader, { combine: true });
  if (ranges === -1) return { status: 416 };
  if (ranges === -2 || ranges.type !== 'bytes' || ranges.length !== 1) return { status: 200 };
  return { status: 206, range: { start: ranges[0].start, end: ranges[0].end } };
}

/**
 * Sends an immutable binary with the headers CDNs and resuming clients (curl -C -) rely on.
 * `open` is only called when there are bytes to send; `onBytes` sees every chunk that goes out.
 */
export async function sendBinary(
  request: Request,
  response: Response,
  binary: StoredBinary,
  open: (range?: ByteRange) => Promise<Readable>,
  onBytes: (bytes: number) => void,
): Promise<void> {
  const plan = planBinaryResponse(request, binary);
  response.setHeader('ETag', etagOf(binary));
  response.setHeader('Last-Modified', binary.createdAt.toUTCString());
  response.setHeader('Cache-Control', IMMUTABLE_CACHE_CONTROL);
  response.setHeader('Accept-Ranges', 'bytes');
  if (plan.status === 304) {
    response.status(304).end();
    return;
  }
  if (plan.status === 416) {
    response.setHeader('Content-Range', `bytes */${binary.size}`);
    response.setHeader('Cache-Control', 'no-store');
    response.status(416).json({ statusCode: 416, error: 'Range Not Satisfiable', message: `the binary has ${binary.size} bytes` });
    return;
  }
  const length = plan.range ? plan.range.end - plan.range.start + 1 : binary.size;
  response.status(plan.status);
  response.setHeader('Content-Type', 'application/octet-stream');
  response.setHeader('Content-Length', String(length));
  if (plan.range) response.setHeader('Content-Range', `bytes ${plan.range.start}-${plan.range.end}/${binary.size}`);
  if (request.method === 'HEAD' || length === 0) {
    response.end();
    return;
  }
  let source: Readable;
  try {
    source = await open(plan.range);
  } catch (error) {
    // Nothing went out yet: the error answer must not carry the binary's validators and year-long caching.
    for (const name of ['ETag', 'Last-Modified', 'Cache-Control', 'Accept-Ranges', 'Content-Type', 'Content-Length', 'Content-Range']) response.removeHeader(name);
    throw error;
  }
  source.on('data', (chunk: Buffer) => onBytes(chunk.length));
  response.flushHeaders();
  try {
    await pipeline(source, response);
  } catch (error) {
    // A client that goes away mid-download is normal (it will resume with Range); anything else is ours.
    if (!response.destroyed && !request.destroyed) throw error;
    source.destroy();
  }
}
