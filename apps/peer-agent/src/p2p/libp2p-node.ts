import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Libp2p } from 'libp2p' with { 'resolution-mode': 'import' };
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface' with { 'resolution-mode': 'import' };
import type { Logger } from '../logging/logger';
import type { PeerTransport } from '../fetch/peer-transport';
import {
  CHUNK_PROTOCOL,
  requestChunk,
  requestInfo,
  requestManifest,
  serveStream,
  type ChunkReply,
  type ChunkRequest,
  type PeerInfo,
  type PeerRequestHandler,
} from './chunk-protocol';
import type { SendPacer } from './frame-codec';
import { nodeNoiseCrypto } from './noise-crypto';

/** Limits that keep one misbehaving or very popular peer from exhausting the gateway. */
export const P2P_LIMITS = {
  maxConnections: 128,
  maxIncomingPendingConnections: 16,
  /** Concurrent `/ota/chunk` streams per connection, each way. */
  maxInboundStreams: 32,
  maxOutboundStreams: 64,
  /** Inbound streams: how long we wait for the request frame and for the peer to read our answer. */
  serveIdleTimeoutMs: 15_000,
  dialTimeoutMs: 5_000,
  /** Outbound requests: overall backstop on top of the per-read idle timeouts. */
  requestDeadlineMs: 120_000,
};

export interface Libp2pNodeOptions {
  keyFile: string;
  host: string;
  port: number;
  mdns: boolean;
  /** The libp2p service tag for mDNS; agents of all sites share it and filter by `info`. */
  mdnsServiceTag?: string;
  log: Logger;
}

export interface P2pEvents {
  /** A peer found by mDNS. */
  onDiscovery(peerId: string, addrs: string[]): void;
  /** A connection (either direction) was opened with a peer. */
  onConnect(peerId: string): void;
}

type Modules = {
  peerIdFromString: (s: string) => PeerId;
  multiaddr: (s: string) => import('@multiformats/multiaddr', { with: { 'resolution-mode': 'import' } }).Multiaddr;
};

/** Loads the agent's libp2p identity from the cache directory, creating it on first start, so the peerId survives restarts. */
async function loadOrCreateKey(file: string): Promise<PrivateKey> {
  const { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } = await import('@libp2p/crypto/keys');
  try {
    return privateKeyFromProtobuf(await readFile(file));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`cannot read the peer key ${file}: ${(error as Error).message}`);
  }
  const key = await generateKeyPair('Ed25519');
  await mkdir(dirname(file), { recursive: true });
  const tmp = join(dirname(file), `.peer-key.${process.pid}.tmp`);
  await writeFile(tmp, privateKeyToProtobuf(key), { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
  return key;
}

/**
 * The libp2p adapter: TCP + Noise + Yamux, identify, optional mDNS, and `/ota/chunk/1.0.0`.
 * libp2p is ESM-only, so it is loaded with `import()` here and nowhere else.
 */
export class Libp2pNode implements PeerTransport {
  private constructor(
    private readonly node: Libp2p,
    private readonly modules: Modules,
    private readonly log: Logger,
  ) {}

  static async start(options: Libp2pNodeOptions, events: P2pEvents): Promise<Libp2pNode> {
    const [{ createLibp2p }, { tcp }, { noise }, { defaultCrypto }, { yamux }, { identify }, { mdns }, { peerIdFromString }, { multiaddr }] = await Promise.all([
      import('libp2p'),
      import('@libp2p/tcp'),
      import('@chainsafe/libp2p-noise'),
      import('@chainsafe/libp2p-noise/crypto'),
      import('@chainsafe/libp2p-yamux'),
      import('@libp2p/identify'),
      import('@libp2p/mdns'),
      import('@libp2p/peer-id'),
      import('@multiformats/multiaddr'),
    ]);
    const privateKey = await loadOrCreateKey(options.keyFile);
    const listen = options.host.includes(':') ? `/ip6/${options.host}/tcp/${options.port}` : `/ip4/${options.host}/tcp/${options.port}`;
    const node = await createLibp2p({
      privateKey,
      addresses: { listen: [listen] },
      transports: [tcp()],
      connectionEncrypters: [noise({ crypto: nodeNoiseCrypto(defaultCrypto) })],
      streamMuxers: [yamux()],
      peerDiscovery: options.mdns ? [mdns({ interval: 5_000, serviceTag: options.mdnsServiceTag })] : [],
      services: { identify: identify() },
      connectionManager: {
        maxConnections: P2P_LIMITS.maxConnections,
        maxIncomingPendingConnections: P2P_LIMITS.maxIncomingPendingConnections,
        dialTimeout: P2P_LIMITS.dialTimeoutMs,
      },
    });
    const self = new Libp2pNode(node as unknown as Libp2p, { peerIdFromString, multiaddr }, options.log);
    node.addEventListener('peer:discovery', (event) => {
      events.onDiscovery(
        event.detail.id.toString(),
        event.detail.multiaddrs.map((m) => m.toString()),
      );
    });
    node.addEventListener('peer:connect', (event) => events.onConnect(event.detail.toString()));
    return self;
  }

  get peerId(): string {
    return this.node.peerId.toString();
  }

  /** Our dialable addresses, each ending in `/p2p/<peerId>`. */
  addrs(): string[] {
    return this.node.getMultiaddrs().map((m) => m.toString());
  }

  /** Serves `/ota/chunk/1.0.0`. `isBanned` peers get their stream reset. */
  async handle(
    handler: PeerRequestHandler,
    options: { pacer?: SendPacer; corruptChunks?: boolean; isBanned: (peerId: string) => boolean; onServed: (result: { op: string; result: string; bytes: number }) => void },
  ): Promise<void> {
    await this.node.handle(
      CHUNK_PROTOCOL,
      async (stream: Stream, connection) => {
        const remote = connection.remotePeer.toString();
        if (options.isBanned(remote)) {
          stream.abort(new Error('banned'));
          return;
        }
        try {
          options.onServed(
            await serveStream(stream, remote, handler, { idleTimeoutMs: P2P_LIMITS.serveIdleTimeoutMs, pacer: options.pacer, corruptChunks: options.corruptChunks }),
          );
        } catch (error) {
          this.log.debug({ peerId: remote, err: (error as Error).message }, 'inbound chunk stream failed');
          stream.abort(error as Error);
          options.onServed({ op: 'chunk', result: 'error', bytes: 0 });
        }
      },
      { maxInboundStreams: P2P_LIMITS.maxInboundStreams, maxOutboundStreams: P2P_LIMITS.maxOutboundStreams },
    );
  }

  /** Remembers addresses for a peer (from the roster) so that dialling by peerId works. */
  async addAddrs(peerId: string, addrs: string[]): Promise<void> {
    const multiaddrs = addrs.flatMap((a) => {
      try {
        return [this.modules.multiaddr(a)];
      } catch {
        return [];
      }
    });
    if (multiaddrs.length === 0) return;
    await this.node.peerStore.merge(this.modules.peerIdFromString(peerId), { multiaddrs });
  }

  /**
   * One request on a fresh stream. Dialling has its own short timeout; after that every read waits
   * at most the caller's idle timeout (a slow but steady peer, e.g. one with a low upload limit, is
   * fine), with an overall backstop so that a trickling peer cannot hold a request forever.
   */
  private async withStream<T>(target: string, run: (stream: Stream, signal: AbortSignal) => Promise<T>): Promise<T> {
    const dialTarget = target.startsWith('/') ? this.modules.multiaddr(target) : this.modules.peerIdFromString(target);
    const stream = await this.node.dialProtocol(dialTarget, CHUNK_PROTOCOL, { signal: AbortSignal.timeout(P2P_LIMITS.dialTimeoutMs) });
    try {
      return await run(stream, AbortSignal.timeout(P2P_LIMITS.requestDeadlineMs));
    } catch (error) {
      stream.abort(error as Error);
      throw error;
    }
  }

  requestChunk(peerId: string, request: ChunkRequest, expectedLength: number, timeoutMs: number): Promise<ChunkReply> {
    return this.withStream(peerId, (stream, signal) => requestChunk(stream, request, expectedLength, timeoutMs, signal));
  }

  requestManifest(peerId: string, sha256: string, timeoutMs: number): Promise<unknown> {
    return this.withStream(peerId, (stream, signal) => requestManifest(stream, sha256, timeoutMs, signal));
  }

  /** Asks a peer (by peerId or full multiaddr) which site it belongs to. */
  requestInfo(target: string, timeoutMs: number): Promise<PeerInfo> {
    return this.withStream(target, (stream, signal) => requestInfo(stream, timeoutMs, signal));
  }

  disconnect(peerId: string): void {
    this.node.hangUp(this.modules.peerIdFromString(peerId)).catch(() => undefined);
  }

  async stop(): Promise<void> {
    await this.node.stop();
  }
}
