import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { AgentConfig } from './config/agent-config';
import { SiteDiscovery } from './discovery/site-discovery';
import { SitePeers } from './discovery/site-peers';
import { ChunkFetcher } from './fetch/chunk-fetcher';
import { ManifestService } from './fetch/manifest-service';
import { createDeviceServer } from './http/device-server';
import type { Logger } from './logging/logger';
import { loadTrustStore, type TrustStore } from './manifest/trust-store';
import { AgentMetrics } from './metrics/agent-metrics';
import { OriginClient } from './origin/origin-client';
import { Libp2pNode } from './p2p/libp2p-node';
import { TokenBucket } from './p2p/token-bucket';
import { ChunkStore } from './store/chunk-store';

export interface RunningAgent {
  httpUrl: string;
  peerId?: string;
  addrs: string[];
  stop(): Promise<void>;
}

/** Chunks fetched ahead of the one a device is receiving. */
const READ_AHEAD_CHUNKS = 8;
const KEY_FETCH_ATTEMPTS = 6;

/** On first start the origin's keys are needed before anything can be verified: retry a little, then give up loudly. */
async function trustStoreWithRetry(config: AgentConfig, origin: OriginClient, log: Logger): Promise<TrustStore> {
  for (let attempt = 1; ; attempt++) {
    try {
      const { store, source } = await loadTrustStore({
        configured: config.trustKeys,
        pinFile: join(config.cacheDir, 'trusted-keys.json'),
        fetchKeys: () => origin.getKeys(),
      });
      log.info({ source, keyIds: store.list().map((k) => k.keyId) }, 'manifest signing keys pinned');
      return store;
    } catch (error) {
      if (attempt >= KEY_FETCH_ATTEMPTS) throw error;
      log.warn({ attempt, err: (error as Error).message }, "cannot get the origin's signing keys yet; retrying");
      await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
    }
  }
}

/** The host part of the URL printed in the ready line (a wildcard bind is reachable on loopback). */
function displayHost(host: string): string {
  return host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
}

/** Composition root: builds every part from the config and starts the HTTP server and the libp2p node. */
export async function startAgent(config: AgentConfig, log: Logger): Promise<RunningAgent> {
  await mkdir(config.cacheDir, { recursive: true });
  const metrics = new AgentMetrics({ defaultMetrics: true });
  const origin = new OriginClient(config.origin, undefined, config.device);
  const keys = await trustStoreWithRetry(config, origin, log);
  const store = await ChunkStore.open(config.cacheDir, config.cacheMaxBytes, metrics, log.child({ part: 'store' }));

  let discovery: SiteDiscovery | undefined;
  let node: Libp2pNode | undefined;
  let peers: SitePeers | undefined;
  if (config.p2p) {
    node = await Libp2pNode.start(
      {
        keyFile: join(config.cacheDir, 'peer-key'),
        host: config.p2pHost,
        port: config.p2pPort,
        mdns: config.mdns,
        mdnsServiceTag: '_ota-peer._udp.local',
        log: log.child({ part: 'p2p' }),
      },
      {
        onDiscovery: (peerId) => discovery?.onDiscovery(peerId),
        onConnect: (peerId) => discovery?.onConnect(peerId),
      },
    );
    peers = new SitePeers(node.peerId);
    const sitePeers = peers;
    metrics.observePeers(() => ({ known: sitePeers.live().length, banned: sitePeers.bannedCount }));
  }

  const manifests = new ManifestService({ store, origin, keys, metrics, log: log.child({ part: 'manifest' }), peers, transport: node });
  const fetcher = new ChunkFetcher({ store, origin, metrics, log: log.child({ part: 'fetch' }), peers, transport: node });

  if (node && peers) {
    const sitePeers = peers;
    await node.handle(
      {
        chunk: async (request, remotePeer) => {
          // Only a peer of this site may make us fetch from the origin on its behalf; anyone else
          // gets what we already hold (the bytes are public and verified by the asker anyway).
          const fetch = request.fetch && sitePeers.has(remotePeer);
          const signed = fetch ? await manifests.get(request.sha256) : await manifests.getLocal(request.sha256);
          return signed ? fetcher.chunkForPeer(signed.manifest, { ...request, fetch }) : undefined;
        },
        manifest: async (sha256) => {
          const signed = await manifests.getLocal(sha256);
          return signed ? Buffer.from(JSON.stringify(signed)) : undefined;
        },
        info: () => ({ site: config.site, peerId: sitePeers.selfId }),
      },
      {
        pacer: config.uploadLimit ? new TokenBucket(config.uploadLimit) : undefined,
        corruptChunks: config.testFaults.corruptServedChunks,
        isBanned: (peerId) => sitePeers.isBanned(peerId),
        onServed: ({ result, bytes }) => {
          metrics.peerRequests.inc({ result });
          if (bytes > 0) metrics.bytesServed.inc({ to: 'peer' }, bytes);
        },
      },
    );
    if (config.testFaults.corruptServedChunks) log.warn('TEST FAULT: every chunk served to peers is corrupted');
  }

  const server = createDeviceServer({
    artifacts: {
      manifest: (sha256) => manifests.get(sha256),
      chunk: (manifest, index) => fetcher.getChunk(manifest, index),
      prefetch: (manifest, index) => fetcher.prefetch(manifest, index),
      pin: (sha256) => store.pin(sha256),
      isWholeVerified: (manifest) => store.isWholeVerified(manifest),
      wholeVerified: (manifest) => store.wholeVerified(manifest),
    },
    packages: origin,
    metrics,
    log: log.child({ part: 'http' }),
    publicUrl: config.publicUrl,
    readAhead: READ_AHEAD_CHUNKS,
    health: () => ({
      site: config.site,
      peerId: node?.peerId,
      p2p: config.p2p,
      peers: peers?.live() ?? [],
      bannedPeers: peers?.bannedCount ?? 0,
      cacheBytes: store.size,
    }),
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.httpPort, config.httpHost, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const httpUrl = config.publicUrl ?? `http://${displayHost(config.httpHost)}:${port}`;

  if (node && peers) {
    discovery = new SiteDiscovery(
      node,
      origin,
      peers,
      {
        site: config.site,
        roster: config.roster,
        bootstrap: config.bootstrap,
        advertiseLoopback: /^(127\.|::1$|localhost$)/.test(config.p2pHost),
        httpUrl,
      },
      log.child({ part: 'discovery' }),
    );
    await discovery.start();
  }

  log.info({ httpUrl, peerId: node?.peerId, addrs: node?.addrs() ?? [], site: config.site, origin: config.origin }, 'peer agent ready');
  return {
    httpUrl,
    peerId: node?.peerId,
    addrs: node?.addrs() ?? [],
    async stop() {
      discovery?.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await node?.stop();
    },
  };
}
