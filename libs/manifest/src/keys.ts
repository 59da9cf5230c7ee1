import { createHash, type KeyObject } from 'node:crypto';

/** Finds a trusted Ed25519 public key by the keyId a manifest names. */
export interface KeyLookup {
  get(keyId: string): KeyObject | undefined;
}

/** The raw 32 bytes of an Ed25519 public key (what GET /keys lists, base64). */
export function rawPublicKey(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url');
}

/** keyId as the appliance, devices and peer agents compute it: the first 16 hex digits of SHA-256 of the raw 32-byte key. */
export function keyIdOf(rawPublicKey: Uint8Array): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}
