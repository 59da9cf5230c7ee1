import { createCipheriv, createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise' with { 'resolution-mode': 'import' };

/** Below this, Noise's own choice (WebAssembly) beats setting up an OpenSSL cipher. */
const SMALL_MESSAGE_BYTES = 1200;
const TAG_BYTES = 16;
const ALGORITHM = 'chacha20-poly1305';

/** The part of a Uint8ArrayList (not a dependency of ours) used here. */
interface ByteList extends Iterable<Uint8Array> {
  readonly byteLength: number;
  sublist(begin?: number, end?: number): ByteList;
  subarray(begin?: number, end?: number): Uint8Array;
}

/**
 * Noise's transport cipher: the same Node (OpenSSL) ChaCha20-Poly1305 that `@chainsafe/libp2p-noise`
 * uses by default for large messages, with the key turned into a `KeyObject` once per cipher state.
 *
 * Given a raw key, `createCipheriv` spends about 20 µs per call checking what kind of key it got
 * (an exception is thrown and caught inside Node), against about 5 µs with a `KeyObject`; at one
 * call per 64 KiB message each way, that was several percent of an agent's CPU in profiles. An
 * encrypted message is also returned as one buffer: the stock code returns Yamux's header and data
 * as separate pieces, which the TCP transport writes with one syscall (and one TCP segment) each.
 *
 * Everything else (handshake, hashing, HKDF, X25519, small messages) is `defaultCrypto`, Noise's
 * own (`@chainsafe/libp2p-noise/crypto`, passed in because it is ESM-only). Noise
 * never changes a cipher state's key bytes in place (a new state gets a new array), so the array
 * is a safe cache key.
 */
export function nodeNoiseCrypto(defaultCrypto: ICryptoInterface): ICryptoInterface {
  const keys = new WeakMap<Uint8Array, KeyObject>();
  const keyObject = (k: Uint8Array): KeyObject => {
    let key = keys.get(k);
    if (!key) {
      key = createSecretKey(k);
      keys.set(k, key);
    }
    return key;
  };

  return {
    ...defaultCrypto,
    chaCha20Poly1305Encrypt(plaintext, nonce, ad, k) {
      if (plaintext.byteLength < SMALL_MESSAGE_BYTES) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k);
      const cipher = createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES });
      cipher.setAAD(ad, { plaintextLength: plaintext.byteLength });
      const parts: Buffer[] = [];
      if (plaintext instanceof Uint8Array) parts.push(cipher.update(plaintext));
      else for (const part of plaintext as ByteList) parts.push(cipher.update(part));
      cipher.final();
      parts.push(cipher.getAuthTag());
      return Buffer.concat(parts, plaintext.byteLength + TAG_BYTES);
    },
    chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst) {
      if (ciphertext.byteLength < SMALL_MESSAGE_BYTES) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst);
      const textLength = ciphertext.byteLength - TAG_BYTES;
      const decipher = createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES });
      decipher.setAAD(ad, { plaintextLength: textLength });
      decipher.setAuthTag(ciphertext.subarray(textLength));
      let plaintext: Uint8Array;
      if (ciphertext instanceof Uint8Array) {
        plaintext = decipher.update(ciphertext.subarray(0, textLength));
      } else {
        // Decrypted part by part (no copy of the ciphertext into one array), then gathered in the
        // destination Noise provides for exactly this length, or in a new buffer.
        const parts: Buffer[] = [];
        for (const part of (ciphertext as ByteList).sublist(0, textLength)) parts.push(decipher.update(part));
        if (parts.length === 1) plaintext = parts[0];
        else if (dst?.byteLength === textLength) {
          let offset = 0;
          for (const part of parts) {
            dst.set(part, offset);
            offset += part.byteLength;
          }
          plaintext = dst;
        } else {
          plaintext = Buffer.concat(parts, textLength);
        }
      }
      // final() checks the tag: a forged or corrupted message throws here and its bytes are never used.
      decipher.final();
      return plaintext;
    },
  };
}
