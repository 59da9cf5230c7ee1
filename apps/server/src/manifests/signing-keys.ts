import { keyIdOf, rawPublicKey } from '@app/manifest';
import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** One public key of GET /keys. */
export interface PublicSigningKey {
  /** First 16 hex digits of SHA-256 of the raw 32-byte public key. */
  keyId: string;
  algorithm: 'Ed25519';
  /** The raw 32-byte public key, base64. */
  publicKey: string;
  /** The same key as an SPKI PEM block (for openssl and most crypto libraries). */
  publicKeyPem: string;
  /** Still listed for verification: manifests signed with it are valid. */
  active: true;
  /** The key new manifests are signed with. */
  current: boolean;
}

/** A signing key that cannot be used: the message names the file. */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

/** How long a replica that lost the creation race waits for the winner to finish writing the file. */
const READ_RETRIES = 20;
const READ_RETRY_MS = 100;

function describe(publicKey: KeyObject, current: boolean): PublicSigningKey {
  return {
    keyId: keyIdOf(rawPublicKey(publicKey)),
    algorithm: 'Ed25519',
    publicKey: rawPublicKey(publicKey).toString('base64'),
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
    active: true,
    current,
  };
}

function parsePrivateKey(pem: string, file: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new SigningKeyError(`SIGNING_KEY_FILE ${file} is not a PEM private key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(`SIGNING_KEY_FILE ${file} holds a ${key.asymmetricKeyType} key; manifests are signed with Ed25519`);
  }
  return key;
}

/**
 * Reads the private key at `file`, creating it first when it does not exist. The file is created
 * exclusively (`wx`), so replicas sharing a volume that start together agree on one key: the loser
 * of the race reads the winner's (waiting briefly, since the winner may still be writing it).
 */
async function loadOrCreatePrivateKey(file: string): Promise<{ key: KeyObject; created: boolean }> {
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ed25519');
  try {
    await writeFile(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { flag: 'wx', mode: 0o600 });
    return { key: privateKey, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new SigningKeyError(`cannot create SIGNING_KEY_FILE ${file}: ${(error as Error).message}`);
    }
  }
  for (let attempt = 1; ; attempt++) {
    const pem = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
      throw new SigningKeyError(`cannot read SIGNING_KEY_FILE ${file}: ${error.message}`);
    });
    try {
      return { key: parsePrivateKey(pem, file), created: false };
    } catch (error) {
      // An empty or partial file is another replica still writing; anything else after the wait is real.
      if (attempt >= READ_RETRIES) throw error;
      await new Promise((resolve) => setTimeout(resolve, READ_RETRY_MS));
    }
  }
}

async function loadTrustedPublicKey(file: string): Promise<KeyObject> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw new SigningKeyError(`SIGNING_TRUSTED_KEYS: cannot read ${file}: ${(error as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pem, format: 'pem' });
  } catch (error) {
    throw new SigningKeyError(`SIGNING_TRUSTED_KEYS: ${file} is not a PEM public key: ${(error as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new SigningKeyError(`SIGNING_TRUSTED_KEYS: ${file} holds a ${key.asymmetricKeyType} key, not Ed25519`);
  return key;
}

/**
 * The appliance's manifest signing keys: the current private key (SIGNING_KEY_FILE, generated on
 * first start) and the public keys still accepted for verification (SIGNING_TRUSTED_KEYS, e.g. the
 * previous key during a rotation).
 */
export class SigningKeys {
  private constructor(
    private readonly privateKey: KeyObject,
    private readonly publicKeys: PublicSigningKey[],
    /** True when this process generated the key file. */
    readonly created: boolean,
  ) {}

  static async load(settings: { keyFile: string; trustedPublicKeyFiles: string[] }): Promise<SigningKeys> {
    const { key, created } = await loadOrCreatePrivateKey(settings.keyFile);
    const current = describe(createPublicKey(key), true);
    const keys = [current];
    for (const file of settings.trustedPublicKeyFiles) {
      const trusted = describe(await loadTrustedPublicKey(file), false);
      if (!keys.some((k) => k.keyId === trusted.keyId)) keys.push(trusted);
    }
    return new SigningKeys(key, keys, created);
  }

  /** keyId of the key new manifests are signed with. */
  get currentKeyId(): string {
    return this.publicKeys[0].keyId;
  }

  /** Every key GET /keys lists, the current one first. */
  list(): PublicSigningKey[] {
    return this.publicKeys.map((key) => ({ ...key }));
  }

  /** Whether a manifest signed with `keyId` still verifies with a listed key. */
  isActive(keyId: string): boolean {
    return this.publicKeys.some((key) => key.keyId === keyId);
  }

  /** Ed25519 signature of `data` with the current key. */
  sign(data: Buffer): Buffer {
    return sign(null, data, this.privateKey);
  }
}
