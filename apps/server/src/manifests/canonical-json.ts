import { canonicalize } from 'json-canonicalize';

/** RFC 8785 (JSON Canonicalization Scheme) serialisation: the bytes a manifest signature covers. */
export type Canonicalize = (value: unknown) => string | undefined;

/**
 * The canonicalizer (json-canonicalize, which ships CommonJS as well as ESM, so the server, the
 * agent and their jest tests load it with a plain import). Async for the callers written against
 * an ESM-only package; it resolves at once.
 */
export async function loadCanonicalize(): Promise<Canonicalize> {
  return canonicalize;
}
