import { ManifestRejectedError, verifySignedManifest, type KeyLookup, type SignedManifest } from '@app/manifest';
import type { Logger } from '../logging/logger';
import type { AgentMetrics } from '../metrics/agent-metrics';
import type { SitePeers } from '../discovery/site-peers';
import { OriginError } from '../origin/origin-client';
import type { ChunkStore } from '../store/chunk-store';
import type { PeerTransport } from './peer-transport';

/** The origin does not know this artifact. */
export class ArtifactNotFoundError extends Error {
  override readonly name = 'ArtifactNotFoundError';
  constructor(readonly sha256: string) {
    super(`artifact ${sha256} not found`);
  }
}

export interface ManifestOrigin {
  getManifest(sha256: string): Promise<unknown>;
}

const MEMORY_ENTRIES = 512;
const PEER_MANIFEST_TIMEOUT_MS = 5_000;
const PEERS_ASKED = 3;

/**
 * Signed manifests, verified before any use: from memory, the cache directory (verified again,
 * since the pinned keys may have changed), the origin, or site peers when the origin is down or
 * serves one that does not verify. Where it came from does not matter: the signature decides.
 */
export class ManifestService {
  private readonly memory = new Map<string, SignedManifest>();
  private readonly inflight = new Map<string, Promise<SignedManifest>>();

  constructor(
    private readonly deps: {
      store: ChunkStore;
      origin: ManifestOrigin;
      keys: KeyLookup;
      metrics: AgentMetrics;
      log: Logger;
      peers?: SitePeers;
      transport?: PeerTransport;
    },
  ) {}

  /** A verified manifest; throws {@link ArtifactNotFoundError}, {@link ManifestRejectedError} or {@link OriginError}. */
  async get(sha256: string): Promise<SignedManifest> {
    const known = this.memory.get(sha256);
    if (known) return known;
    let pending = this.inflight.get(sha256);
    if (!pending) {
      pending = this.load(sha256).finally(() => this.inflight.delete(sha256));
      this.inflight.set(sha256, pending);
    }
    return pending;
  }

  /** A verified manifest this agent already holds (memory or disk), without asking anyone. */
  async getLocal(sha256: string): Promise<SignedManifest | undefined> {
    const known = this.memory.get(sha256);
    if (known) return known;
    const stored = await this.deps.store.readManifest(sha256);
    if (stored === undefined) return undefined;
    try {
      return this.remember(this.verify(stored, sha256, 'cache'));
    } catch {
      return undefined;
    }
  }

  private verify(value: unknown, sha256: string, source: string): SignedManifest {
    try {
      return verifySignedManifest(value, sha256, this.deps.keys);
    } catch (error) {
      if (error instanceof ManifestRejectedError) {
        this.deps.metrics.manifestsRejected.inc({ reason: error.reason });
        this.deps.log.warn({ sha256, source, reason: error.reason, err: error.message }, 'manifest rejected');
      }
      throw error;
    }
  }

  private remember(signed: SignedManifest): SignedManifest {
    this.memory.set(signed.manifest.sha256, signed);
    if (this.memory.size > MEMORY_ENTRIES) this.memory.delete(this.memory.keys().next().value as string);
    return signed;
  }

  private async load(sha256: string): Promise<SignedManifest> {
    const local = await this.getLocal(sha256);
    if (local) return local;

    let failure: Error;
    try {
      const fromOrigin = await this.deps.origin.getManifest(sha256);
      if (fromOrigin === undefined) throw new ArtifactNotFoundError(sha256);
      return await this.keep(this.verify(fromOrigin, sha256, 'origin'));
    } catch (error) {
      // The origin is authoritative about what exists; it is not about what is authentic.
      if (error instanceof ArtifactNotFoundError) throw error;
      if (!(error instanceof ManifestRejectedError) && !(error instanceof OriginError)) throw error;
      failure = error;
    }

    const fromPeer = await this.fromPeers(sha256);
    if (fromPeer) return this.keep(fromPeer);
    throw failure;
  }

  private async fromPeers(sha256: string): Promise<SignedManifest | undefined> {
    const { peers, transport } = this.deps;
    if (!peers || !transport) return undefined;
    for (const peerId of peers
      .rank(sha256, 0)
      .filter((id) => id !== peers.selfId)
      .slice(0, PEERS_ASKED)) {
      try {
        const doc = await transport.requestManifest(peerId, sha256, PEER_MANIFEST_TIMEOUT_MS);
        if (doc !== undefined) return this.verify(doc, sha256, `peer ${peerId}`);
      } catch (error) {
        this.deps.log.debug({ sha256, peerId, err: (error as Error).message }, 'peer could not give a valid manifest');
      }
    }
    return undefined;
  }

  private async keep(signed: SignedManifest): Promise<SignedManifest> {
    await this.deps.store.writeManifest(signed);
    return this.remember(signed);
  }
}
