import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { ICryptoInterface } from '@chainsafe/libp2p-noise' with { 'resolution-mode': 'import' };
import { nodeNoiseCrypto } from './noise-crypto';

/** The shape of a Uint8ArrayList that the adapter relies on (the real one is ESM-only, out of jest's reach). */
class FakeList implements Iterable<Uint8Array> {
  readonly bufs: Uint8Array[];
  constructor(...bufs: Uint8Array[]) {
    this.bufs = bufs;
  }
  get byteLength(): number {
    return this.bufs.reduce((n, b) => n + b.byteLength, 0);
  }
  [Symbol.iterator](): Iterator<Uint8Array> {
    return this.bufs[Symbol.iterator]();
  }
  subarray(begin = 0, end = this.byteLength): Uint8Array {
    return Buffer.concat(this.bufs).subarray(begin, end);
  }
  sublist(begin = 0, end = this.byteLength): FakeList {
    const out: Uint8Array[] = [];
    let offset = 0;
    for (const buf of this.bufs) {
      const from = Math.max(begin - offset, 0);
      const to = Math.min(end - offset, buf.byteLength);
      if (to > from) out.push(buf.subarray(from, to));
      offset += buf.byteLength;
    }
    return new FakeList(...out);
  }
}

const key = randomBytes(32);
const nonce = randomBytes(12);
const ad = randomBytes(32);

/** Node's ChaCha20-Poly1305 used directly: the reference the adapter must agree with, byte for byte. */
function sealed(plaintext: Uint8Array): Buffer {
  const cipher = createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength });
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function opened(ciphertext: Uint8Array): Buffer {
  const decipher = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  decipher.setAAD(ad, { plaintextLength: ciphertext.byteLength - 16 });
  decipher.setAuthTag(ciphertext.subarray(ciphertext.byteLength - 16));
  return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.byteLength - 16)), decipher.final()]);
}

describe(nodeNoiseCrypto.name, () => {
  const smallCalls: string[] = [];
  const fallback = {
    chaCha20Poly1305Encrypt: (plaintext: Uint8Array) => {
      smallCalls.push('encrypt');
      return sealed(plaintext);
    },
    chaCha20Poly1305Decrypt: (ciphertext: Uint8Array) => {
      smallCalls.push('decrypt');
      return opened(ciphertext);
    },
  } as unknown as ICryptoInterface;
  const crypto = nodeNoiseCrypto(fallback);
  const message = randomBytes(65_519);

  beforeEach(() => (smallCalls.length = 0));

  it('encrypts a message as one buffer, identical to plain ChaCha20-Poly1305, whether given one array or a list', () => {
    const fromArray = crypto.chaCha20Poly1305Encrypt(message, nonce, ad, key);
    const fromList = crypto.chaCha20Poly1305Encrypt(new FakeList(message.subarray(0, 12), message.subarray(12)) as never, nonce, ad, key);
    expect(fromArray).toBeInstanceOf(Uint8Array);
    expect(fromList).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(fromArray as Uint8Array)).toEqual(sealed(message));
    expect(Buffer.from(fromList as Uint8Array)).toEqual(sealed(message));
  });

  it('decrypts what plain ChaCha20-Poly1305 sealed, from one array or a list split anywhere, into the destination given', () => {
    const ciphertext = sealed(message);
    expect(Buffer.from(crypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, key) as Uint8Array)).toEqual(message);
    for (const cut of [1, 30_000, ciphertext.byteLength - 20, ciphertext.byteLength - 8]) {
      const dst = new Uint8Array(message.byteLength);
      const plaintext = crypto.chaCha20Poly1305Decrypt(new FakeList(ciphertext.subarray(0, cut), ciphertext.subarray(cut)) as never, nonce, ad, key, dst);
      expect(Buffer.from(plaintext as Uint8Array)).toEqual(message);
    }
  });

  it('refuses a message whose tag or bytes were tampered with', () => {
    const tamperedTag = sealed(message);
    tamperedTag[tamperedTag.byteLength - 1] ^= 0x01;
    expect(() => crypto.chaCha20Poly1305Decrypt(tamperedTag, nonce, ad, key)).toThrow();
    const tamperedText = sealed(message);
    tamperedText[1000] ^= 0x80;
    expect(() =>
      crypto.chaCha20Poly1305Decrypt(new FakeList(tamperedText.subarray(0, 500), tamperedText.subarray(500)) as never, nonce, ad, key, new Uint8Array(message.byteLength)),
    ).toThrow();
  });

  it('keeps a key per cipher state: a new key array is never confused with an earlier one', () => {
    const otherKey = randomBytes(32);
    const first = crypto.chaCha20Poly1305Encrypt(message, nonce, ad, key);
    const second = crypto.chaCha20Poly1305Encrypt(message, nonce, ad, otherKey);
    expect(Buffer.from(second as Uint8Array)).not.toEqual(Buffer.from(first as Uint8Array));
    expect(() => crypto.chaCha20Poly1305Decrypt(second, nonce, ad, key)).toThrow();
  });

  it("leaves small messages to Noise's default", () => {
    const small = randomBytes(100);
    const ciphertext = crypto.chaCha20Poly1305Encrypt(small, nonce, ad, key);
    expect(Buffer.from(crypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, key) as Uint8Array)).toEqual(small);
    expect(smallCalls).toEqual(['encrypt', 'decrypt']);
  });
});
