import { decide, decisionEtag, packageDetails, type CatalogIndex, type DeviceRequest, type PackageDetails, type ResolvedDecision } from '@app/resolver';
import { Injectable } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import type { Writable } from 'node:stream';
import { artifactKey } from '../artifacts/artifacts.service';
import { CatalogService } from '../catalog/catalog.service';
import { notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { ObjectStore } from '../storage/object-store';

export interface PackageAnswer {
  decision: ResolvedDecision;
  /** Quoted strong ETag of the decision (`"d-…"`). */
  etag: string;
  /** True when the device (or a cache revalidating for it) already holds exactly this answer. */
  notModified: boolean;
}

/**
 * Answers a device check from the in-memory catalog (no database query) and renders it as
 * `package_details.json` or as a streamed tar.gz of everything the device still needs.
 */
@Injectable()
export class PackageService {
  private readonly presigned = new Map<string, string>();
  private presignedWindow = -1;

  constructor(
    private readonly catalog: CatalogService,
    private readonly store: ObjectStore,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * The catalog decisions read now: a new object after every change. With {@link urlWindow} it is
   * all an answer depends on besides the request, so equal requests in one catalog and window get
   * byte-identical answers.
   */
  currentCatalog(): CatalogIndex {
    return this.catalog.current();
  }

  /** The window presigned URLs are signed for (see presignedUrls); 0 with public URLs. */
  urlWindow(): number {
    if (this.config.downloadUrls === 'public') return 0;
    return Math.floor(Date.now() / ((this.config.presignedUrlTtlSeconds * 1000) / 2));
  }

  decide(request: DeviceRequest, catalog: CatalogIndex = this.catalog.current()): PackageAnswer {
    const decision = decide(catalog, request);
    if (!decision.ok) throw notFound(decision.message);
    const tag = decisionEtag(decision, request.payloadType);
    const notModified = decision.status === 304 || request.decisionEtags.includes(tag);
    return { decision, etag: `"${tag}"`, notModified };
  }

  /** `package_details.json` with offer URLs under PUBLIC_BASE_URL, or presigned store URLs. */
  async details(decision: ResolvedDecision): Promise<PackageDetails> {
    const base = this.config.publicBaseUrl;
    const manifestUrl = (sha256: string) => `${base}/manifests/${sha256}`;
    if (this.config.downloadUrls === 'public') {
      return packageDetails(decision, { artifactUrl: (sha256) => `${base}/artifacts/${sha256}`, manifestUrl });
    }
    const urls = await this.presignedUrls(decision);
    return packageDetails(decision, { artifactUrl: (sha256) => urls.get(sha256) ?? `${base}/artifacts/${sha256}`, manifestUrl });
  }

  /**
   * Presigned URLs are signed at the start of a window half their lifetime long, so the same
   * question gets the same answer within a window (cacheable) and every URL handed out stays
   * valid for at least half its TTL — far longer than any cache keeps the answer.
   */
  private async presignedUrls(decision: ResolvedDecision): Promise<Map<string, string>> {
    const ttl = this.config.presignedUrlTtlSeconds;
    const windowMs = (ttl * 1000) / 2;
    const window = this.urlWindow();
    if (window !== this.presignedWindow) {
      this.presigned.clear();
      this.presignedWindow = window;
    }
    const signedAt = new Date(window * windowMs);
    const hashes = decision.components.flatMap((c) => [c.offered?.sha256, c.installedArtifact?.sha256]).filter((h): h is string => !!h);
    for (const sha256 of new Set(hashes.map((h) => h.toLowerCase()))) {
      if (this.presigned.has(sha256)) continue;
      const url = await this.store.presignedDownloadUrl(artifactKey(sha256), ttl, signedAt);
      if (url) this.presigned.set(sha256, url);
    }
    return this.presigned;
  }

  /**
   * Streams the full payload: a tar.gz built as it is sent, `package_details.json` first, then
   * one member per binary still needed (`<component>_<version>`), each read from the store only
   * when its turn comes. Nothing is held whole in memory.
   */
  async streamPayload(decision: ResolvedDecision, details: PackageDetails, destination: Writable): Promise<void> {
    const pack = tar.pack();
    // Large zlib chunks: each one is a round trip to the thread pool.
    const gzip = createGzip({ level: this.config.packageGzipLevel, chunkSize: 256 * 1024 });
    const sending = pipeline(pack, gzip, destination);
    const mtime = new Date(Math.floor(Date.now() / 60_000) * 60_000);
    try {
      await new Promise<void>((resolve, reject) =>
        pack.entry({ name: 'package_details.json', mode: 0o644, mtime }, `${JSON.stringify(details, null, 2)}\n`, (error) => (error ? reject(error) : resolve())),
      );
      for (const component of decision.components) {
        if (component.statusCode !== 200 || !component.offered) continue;
        const artifact = component.offered;
        const entry = pack.entry({ name: `${component.component}_${component.latestVersion}`, size: artifact.size, mode: 0o644, mtime });
        const source = await this.store.read(artifactKey(artifact.sha256.toLowerCase()));
        source.on('data', (chunk: Buffer) => this.metrics.artifactBytesSent.inc({ route: 'package' }, chunk.length));
        await pipeline(source, entry);
      }
      pack.finalize();
    } catch (error) {
      pack.destroy(error as Error);
    }
    await sending;
  }
}
