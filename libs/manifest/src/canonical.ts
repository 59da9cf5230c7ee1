import { canonicalize } from 'json-canonicalize';

/**
 * RFC 8785 (JSON Canonicalization Scheme) text of a JSON value: for a manifest, the bytes (UTF-8)
 * its signature covers. Every side (the appliance signing, the peer agent verifying, the tests)
 * goes through this one function, so they cannot disagree about a byte.
 */
export function canonicalJson(value: unknown): string {
  return canonicalize(value);
}
