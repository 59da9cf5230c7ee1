import { canonicalJson, chunkCount, ManifestRejectedError, verifySignedManifest, type KeyLookup, type Manifest } from '@app/manifest';
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '@test/support/app';
import { upload } from '@test/support/http';
import { makeTempDir } from '@test/support/temp-dir';

/** The examples of docs/device-verification.md, run as a device maker would run them. */
const EXAMPLES = join(__dirname, '..', '..', '..', '..', 'docs', 'examples');
const CHUNK = 64 * 1024;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(command, args, { env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

/**
 * Every field of libs/manifest's Manifest (the compiler insists on all of them and no other). The
 * TypeScript example is standalone on purpose, for device makers to copy: it imports nothing of
 * this repository, so these tests check that it still agrees with the library.
 */
const MANIFEST_FIELDS: Record<keyof Manifest, true> = {
  component: true,
  version: true,
  sha256: true,
  md5: true,
  size: true,
  chunkSize: true,
  chunks: true,
  createdAt: true,
  keyId: true,
};

/** libs/manifest's verdict, with the keys the example pinned. */
function libraryAccepts(body: string, sha256: string, pinnedKeysFile: string): boolean {
  const pinned = (JSON.parse(readFileSync(pinnedKeysFile, 'utf8')) as { keys: { keyId: string; publicKey: string }[] }).keys;
  const byId = new Map<string, KeyObject>(
    pinned.map(({ keyId, publicKey }) => [
      keyId,
      createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKey, 'base64').toString('base64url') }, format: 'jwk' }),
    ]),
  );
  const keys: KeyLookup = { get: (keyId) => byId.get(keyId) };
  try {
    verifySignedManifest(JSON.parse(body), sha256, keys);
    return true;
  } catch (error) {
    if (error instanceof ManifestRejectedError) return false;
    throw error;
  }
}

const typescriptExample = (...args: string[]) => run(process.execPath, ['--disable-warning=ExperimentalWarning', join(EXAMPLES, 'verify-manifest.mts'), ...args]);
const shellExample = (...args: string[]) => run('sh', [join(EXAMPLES, 'verify-manifest.sh'), ...args]);

describe('device verification examples (docs/device-verification.md)', () => {
  let appliance: TestApp;
  let tamperer: Server;
  let tampererUrl: string;
  /** What the tampering server answers for /manifests/<sha256>. */
  let tampered = '';
  const work = makeTempDir('ota-verify-');
  const firmware = join(work.path, 'firmware.bin');
  const corrupted = join(work.path, 'corrupted.bin');
  const corruptedTail = join(work.path, 'corrupted-tail.bin');
  let sha256: string;
  let manifestUrl: string;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { MANIFEST_CHUNK_BYTES: String(CHUNK) } });
    const data = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919 + (i >> 11)) & 0xff;
    writeFileSync(firmware, data);
    const bad = Buffer.from(data);
    bad[2 * CHUNK + 100] ^= 0x01;
    writeFileSync(corrupted, bad);
    const badTail = Buffer.from(data);
    badTail[data.length - 1] ^= 0x80;
    writeFileSync(corruptedTail, badTail);
    const stored = await upload(appliance.url, 'os_armv8', '6.15.008', data);
    expect(stored.status).toBe(201);
    sha256 = stored.body.sha256;
    manifestUrl = `${appliance.url}/manifests/${sha256}`;

    tamperer = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(tampered);
    });
    await new Promise<void>((resolve) => tamperer.listen(0, '127.0.0.1', resolve));
    tampererUrl = `http://127.0.0.1:${(tamperer.address() as AddressInfo).port}/manifests/${sha256}`;
  });

  afterAll(async () => {
    await new Promise((resolve) => tamperer.close(resolve));
    await appliance.dispose();
    work.remove();
  });

  /** The genuine body with one thing changed, as a man in the middle (or a bad cache) would. */
  async function genuineWith(change: (signed: { manifest: Record<string, unknown>; signature: string }) => void): Promise<string> {
    const signed = (await (await fetch(manifestUrl)).json()) as { manifest: Record<string, unknown>; signature: string };
    change(signed);
    return JSON.stringify(signed);
  }

  describe('in TypeScript', () => {
    const keys = join(work.path, 'pinned-keys.json');

    it('pins the keys, then verifies the signed manifest and every byte of the file', async () => {
      const pinned = await typescriptExample('pin', appliance.url, keys);
      expect(pinned).toMatchObject({ code: 0, stdout: expect.stringMatching(/^pinned [0-9a-f]{16}\n$/) });
      const result = await typescriptExample('verify', manifestUrl, keys, firmware);
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toBe(`verified os_armv8 6.15.008 (${3 * 1024 * 1024 + 5} bytes, 49 chunks, key ${pinned.stdout.slice(7, 23)})\n`);
    });

    it('names the first chunk that does not match', async () => {
      expect(await typescriptExample('verify', manifestUrl, keys, corrupted)).toMatchObject({ code: 1, stderr: 'NOT verified: chunk 2 does not match\n' });
      expect(await typescriptExample('verify', manifestUrl, keys, corruptedTail)).toMatchObject({ code: 1, stderr: 'NOT verified: chunk 48 does not match\n' });
    });

    it.each([
      ['a manifest changed after signing', (s: { manifest: Record<string, unknown> }) => void (s.manifest.size = 1), 'bad signature'],
      ['a flipped signature bit', (s: { signature: string }) => void (s.signature = flipBit(s.signature)), 'bad signature'],
    ])('refuses %s', async (_label, change, reason) => {
      tampered = await genuineWith(change);
      expect(await typescriptExample('verify', tampererUrl, keys, firmware)).toMatchObject({ code: 1, stderr: `NOT verified: ${reason}\n` });
    });

    it('refuses a manifest signed by a key it did not pin', async () => {
      tampered = await signedByStranger();
      const result = await typescriptExample('verify', tampererUrl, keys, firmware);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^NOT verified: manifest signed by key [0-9a-f]{16}, which is not pinned\n$/);
    });

    it('agrees with libs/manifest: the same fields, the same chunk count, the same verdict on every manifest', async () => {
      const declared = /export interface Manifest \{([^}]*)\}/.exec(readFileSync(join(EXAMPLES, 'verify-manifest.mts'), 'utf8'))![1];
      const exampleFields = [...declared.matchAll(/^\s*(\w+)\??:/gm)].map((match) => match[1]);
      expect(exampleFields.sort()).toEqual(Object.keys(MANIFEST_FIELDS).sort());
      const genuine = await genuineWith(() => undefined);
      const { manifest } = JSON.parse(genuine) as { manifest: Manifest };
      expect(Object.keys(manifest).sort()).toEqual(Object.keys(MANIFEST_FIELDS).sort());
      expect(manifest.chunks).toHaveLength(chunkCount(manifest.size, manifest.chunkSize));

      const shown: [string, string][] = [
        ['genuine', genuine],
        ['changed after signing', await genuineWith((s) => void (s.manifest.size = 1))],
        ['a flipped signature bit', await genuineWith((s) => void (s.signature = flipBit(s.signature)))],
        ["another artifact's", await genuineWith((s) => void (s.manifest.sha256 = '0'.repeat(64)))],
        ['signed by a key not pinned', await signedByStranger()],
      ];
      for (const [label, body] of shown) {
        tampered = body;
        const example = (await typescriptExample('verify', tampererUrl, keys, firmware)).code === 0;
        expect({ label, example, library: libraryAccepts(body, sha256, keys) }).toEqual({ label, example: label === 'genuine', library: label === 'genuine' });
      }
    });
  });

  describe('with openssl and sha256sum', () => {
    const keys = join(work.path, 'pinned-keys');

    it('pins the keys, then verifies the signed manifest and every byte of the file', async () => {
      const pinned = await shellExample('pin', appliance.url, keys);
      expect(pinned.stderr).toBe('');
      expect(pinned.code).toBe(0);
      const keyId = /^pinned ([0-9a-f]{16})\n$/.exec(pinned.stdout)![1];
      expect(readdirSync(keys)).toEqual([`${keyId}.pem`]);
      const result = await shellExample('verify', manifestUrl, keys, firmware);
      expect(result.stderr).toBe('');
      expect(result).toMatchObject({ code: 0, stdout: `verified ${sha256} (${3 * 1024 * 1024 + 5} bytes, 49 chunks, key ${keyId})\n` });
    });

    it('verifies a manifest saved to a file as well', async () => {
      const saved = join(work.path, 'saved-manifest.json');
      writeFileSync(saved, await (await fetch(manifestUrl)).text());
      expect((await shellExample('verify', saved, keys, firmware)).code).toBe(0);
    });

    it('names the first chunk that does not match', async () => {
      expect(await shellExample('verify', manifestUrl, keys, corrupted)).toMatchObject({ code: 1, stderr: 'NOT verified: chunk 2 does not match\n' });
      expect(await shellExample('verify', manifestUrl, keys, corruptedTail)).toMatchObject({ code: 1, stderr: 'NOT verified: chunk 48 does not match\n' });
    });

    it.each([
      ['a manifest changed after signing', (s: { manifest: Record<string, unknown> }) => void (s.manifest.size = 1), 'bad signature'],
      ['a flipped signature bit', (s: { signature: string }) => void (s.signature = flipBit(s.signature)), 'bad signature'],
      ["another artifact's manifest", (s: { manifest: Record<string, unknown> }) => void (s.manifest.sha256 = '0'.repeat(64)), 'bad signature'],
    ])('refuses %s', async (_label, change, reason) => {
      tampered = await genuineWith(change);
      expect(await shellExample('verify', tampererUrl, keys, firmware)).toMatchObject({ code: 1, stderr: `NOT verified: ${reason}\n` });
    });

    it('refuses a manifest signed by a key it did not pin', async () => {
      tampered = await signedByStranger();
      const result = await shellExample('verify', tampererUrl, keys, firmware);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/^NOT verified: manifest signed by key [0-9a-f]{16}, which is not pinned\n$/);
    });
  });

  /** The genuine manifest, re-signed by a key the appliance never listed (its keyId updated to match). */
  async function signedByStranger(): Promise<string> {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const raw = Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url');
    const signed = (await (await fetch(manifestUrl)).json()) as { manifest: Record<string, unknown>; signature: string };
    signed.manifest.keyId = createHash('sha256').update(raw).digest('hex').slice(0, 16);
    signed.signature = sign(null, Buffer.from(canonicalJson(signed.manifest)), privateKey).toString('base64');
    return JSON.stringify(signed);
  }
});

function flipBit(base64: string): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[5] ^= 0x01;
  return bytes.toString('base64');
}
