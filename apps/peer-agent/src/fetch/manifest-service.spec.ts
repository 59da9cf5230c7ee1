import { ManifestRejectedError } from '@app/manifest';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeArtifact, makeKey, signManifest, trustStoreOf, type TestArtifact } from '@peer-agent/test-support/fixtures';
import { SitePeers } from '../discovery/site-peers';
import { silentLogger } from '../logging/logger';
import { AgentMetrics } from '../metrics/agent-metrics';
import { OriginError } from '../origin/origin-client';
import { ChunkStore } from '../store/chunk-store';
import { ArtifactNotFoundError, ManifestService, type ManifestOrigin } from './manifest-service';
import type { PeerTransport } from './peer-transport';

const key = makeKey();

function tampered(artifact: TestArtifact): unknown {
  const sig = Buffer.from(artifact.signed.signature, 'base64');
  sig[5] ^= 1;
  return { ...artifact.signed, signature: sig.toString('base64') };
}

describe(ManifestService.name, () => {
  let dir: string;
  let store: ChunkStore;
  let metrics: AgentMetrics;
  let artifact: TestArtifact;
  const log = silentLogger();

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'manifests-'));
    metrics = new AgentMetrics();
    store = await ChunkStore.open(dir, 1024 ** 3, metrics, log);
    artifact = makeArtifact(3000, 1024, key);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  const service = (origin: ManifestOrigin, extra: { peers?: SitePeers; transport?: PeerTransport } = {}): ManifestService =>
    new ManifestService({ store, origin, keys: trustStoreOf(key), metrics, log, ...extra });

  it('verifies the origin manifest once, then serves it from memory and, after a restart, from disk', async () => {
    const getManifest = jest.fn(async () => JSON.parse(JSON.stringify(artifact.signed)));
    const first = service({ getManifest });
    await Promise.all([first.get(artifact.manifest.sha256), first.get(artifact.manifest.sha256)]);
    expect((await first.get(artifact.manifest.sha256)).manifest).toEqual(artifact.manifest);
    expect(getManifest).toHaveBeenCalledTimes(1);

    const afterRestart = service({ getManifest: () => Promise.reject(new Error('origin must not be asked')) });
    expect((await afterRestart.get(artifact.manifest.sha256)).signature).toBe(artifact.signed.signature);
  });

  it('rejects a manifest with a bad signature and does not keep it', async () => {
    const manifests = service({ getManifest: async () => tampered(artifact) });
    await expect(manifests.get(artifact.manifest.sha256)).rejects.toMatchObject({ reason: 'bad-signature' });
    expect(await store.readManifest(artifact.manifest.sha256)).toBeUndefined();
    expect((await metrics.manifestsRejected.get()).values).toEqual([expect.objectContaining({ labels: { reason: 'bad-signature' }, value: 1 })]);
  });

  it('rejects a manifest signed by a key that is not pinned', async () => {
    const manifests = service({ getManifest: async () => signManifest(artifact.manifest, makeKey()) });
    await expect(manifests.get(artifact.manifest.sha256)).rejects.toBeInstanceOf(ManifestRejectedError);
  });

  it('reports an artifact the origin does not know', async () => {
    await expect(service({ getManifest: async () => undefined }).get(artifact.manifest.sha256)).rejects.toBeInstanceOf(ArtifactNotFoundError);
  });

  it('gets the manifest from a peer when the origin is down, the signature deciding which peer to believe', async () => {
    const peers = new SitePeers('self');
    peers.upsert('liar', [], 60_000, 'roster');
    peers.upsert('honest', [], 60_000, 'roster');
    const transport: PeerTransport = {
      requestChunk: () => Promise.reject(new Error('unused')),
      requestManifest: async (peerId) => (peerId === 'liar' ? tampered(artifact) : artifact.signed),
      disconnect: () => undefined,
    };
    const manifests = service({ getManifest: () => Promise.reject(new OriginError('connection refused')) }, { peers, transport });
    expect((await manifests.get(artifact.manifest.sha256)).manifest).toEqual(artifact.manifest);
  });

  it('fails with the origin error when no peer has a valid manifest either', async () => {
    const manifests = service({ getManifest: () => Promise.reject(new OriginError('connection refused')) });
    await expect(manifests.get(artifact.manifest.sha256)).rejects.toBeInstanceOf(OriginError);
  });
});
