import rangeParser from 'range-parser';

export type RangeDecision = { kind: 'full' } | { kind: 'partial'; start: number; end: number } | { kind: 'unsatisfiable' };

/**
 * Interprets a `Range` header for a file of `size` bytes, with `If-Range` against the artifact's
 * ETag. Only a single byte range is honoured; a malformed header, a multi-range request or a stale
 * `If-Range` gets the whole file, which RFC 9110 allows.
 */
export function decideRange(size: number, range: string | undefined, ifRange: string | undefined, etag: string): RangeDecision {
  if (!range) return { kind: 'full' };
  if (ifRange !== undefined && ifRange.trim() !== etag) return { kind: 'full' };
  const parsed = rangeParser(size, range, { combine: true });
  if (parsed === -1) return { kind: 'unsatisfiable' };
  if (parsed === -2 || parsed.type !== 'bytes' || parsed.length !== 1) return { kind: 'full' };
  return { kind: 'partial', start: parsed[0].start, end: parsed[0].end };
}
