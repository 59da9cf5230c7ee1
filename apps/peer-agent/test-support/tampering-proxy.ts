import { canonicalJson, keyIdOf, rawPublicKey } from '@app/manifest';
import { generateKeyPairSync, sign } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { pipeline } from 'node:stream/promises';

/**
 * How a manifest is spoiled on its way to the agent:
 * - `bad-signature`: the genuine manifest with one signature bit flipped;
 * - `unknown-key`: the genuine manifest re-signed by a key the appliance never listed;
 * - `{ replayOf }`: another artifact's genuine, validly signed manifest, replayed.
 */
export type Tampering = 'bad-signature' | 'unknown-key' | { replayOf: string };

/**
 * A man in the middle (or a poisoned cache) in front of the real appliance: passes every request
 * through, except the manifests it was told to spoil. The appliance itself never misbehaves; this
 * is how the agent's refusal of bad manifests is tested against the real origin.
 */
export interface TamperingProxy {
  url: string;
  tamper(sha256: string, how: Tampering): void;
  stop(): Promise<void>;
}

interface Signed {
  manifest: Record<string, unknown>;
  signature: string;
}

function forward(upstream: URL, req: IncomingMessage, res: ServerResponse): void {
  const out = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent: false },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      pipeline(answer, res).catch(() => res.destroy());
    },
  );
  out.on('error', () => res.destroy());
  pipeline(req, out).catch(() => out.destroy());
}

export async function startTamperingProxy(upstreamUrl: string): Promise<TamperingProxy> {
  const upstream = new URL(upstreamUrl);
  const rules = new Map<string, Tampering>();

  async function genuine(sha256: string): Promise<Signed> {
    const response = await fetch(`${upstreamUrl}/manifests/${sha256}`);
    if (!response.ok) throw new Error(`upstream manifest ${sha256}: HTTP ${response.status}`);
    return (await response.json()) as Signed;
  }

  async function spoiled(sha256: string, how: Tampering): Promise<Signed> {
    if (typeof how === 'object') return genuine(how.replayOf);
    const signed = await genuine(sha256);
    if (how === 'bad-signature') {
      const bytes = Buffer.from(signed.signature, 'base64');
      bytes[10] ^= 0x01;
      return { manifest: signed.manifest, signature: bytes.toString('base64') };
    }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const manifest = { ...signed.manifest, keyId: keyIdOf(rawPublicKey(publicKey)) };
    return { manifest, signature: sign(null, Buffer.from(canonicalJson(manifest), 'utf8'), privateKey).toString('base64') };
  }

  const server: Server = createServer((req, res) => {
    const match = /^\/manifests\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const how = match ? rules.get(match[1]) : undefined;
    if (!match || !how || req.method !== 'GET') return forward(upstream, req, res);
    spoiled(match[1], how).then(
      (body) => {
        const text = JSON.stringify(body);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
      (error: unknown) => {
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end(String(error));
      },
    );
  });
  await new Promise<void>((ready) => server.listen(0, '127.0.0.1', ready));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    tamper: (sha256, how) => void rules.set(sha256, how),
    stop: async () => {
      server.closeAllConnections();
      await new Promise((done) => server.close(done));
    },
  };
}
