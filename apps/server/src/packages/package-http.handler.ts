import { parseDeviceQuery, type CatalogIndex } from '@app/resolver';
import { Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, Gauge } from 'prom-client';
import { toHttpError } from '../common/http-error-mapper';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { PackageAnswerCache, type EncodedAnswer } from './package-answer-cache';
import { PackageService, type PackageAnswer } from './package.service';

/** Errors are cached briefly, so a CDN absorbs a misconfigured fleet without pinning a mistake for long. */
const ERROR_CACHE_CONTROL = 'public, max-age=10';
const ROUTE = '/package';
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
const DURATION_LABELS = { GET: { method: 'GET', route: ROUTE }, HEAD: { method: 'HEAD', route: ROUTE } } as const;

function queryOf(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(search)) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

/** What a computed answer may be cached under. */
interface CacheSlot {
  catalog: CatalogIndex;
  window: number;
  key: string;
}

/**
 * GET/HEAD /package: the device check, the hottest route of the appliance. It runs straight on
 * Node's HTTP server, ahead of the framework's router, pipes and guards (none of which it needs: it
 * is anonymous, reads only the in-memory catalog and validates its own input), which more than
 * doubles the checks a replica answers per second. The OpenAPI document describes it like any route.
 *
 * 304s and `metadataOnly` 200s are kept encoded in a {@link PackageAnswerCache}, keyed by the exact
 * query and If-None-Match, for the catalog they were computed from: a device asking again, or a
 * fleet asking the same, costs a lookup. Errors and full payloads are computed every time, so
 * validation never depends on the cache.
 */
@Injectable()
export class PackageHttpHandler {
  private readonly logger = new Logger('Package');
  private readonly cache: PackageAnswerCache;
  private readonly cacheControl: string;
  /** Requests by method and status since the last scrape (see MetricsService.tallyRequests). */
  private readonly requests = { GET: new Map<number, number>(), HEAD: new Map<number, number>() };
  private hits = 0;
  private misses = 0;

  constructor(
    private readonly packages: PackageService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {
    this.cache = new PackageAnswerCache(config.packageCacheBytes);
    this.cacheControl = `public, max-age=${config.cacheTtlSeconds}`;
    this.registerMetrics();
  }

  /** Answers the request when it is a device check; false lets the framework route it. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    const method = request.method;
    if (path !== ROUTE || (method !== 'GET' && method !== 'HEAD')) return false;
    const started = process.hrtime.bigint();
    const search = queryStart === -1 ? '' : url.slice(queryStart + 1);
    const ifNoneMatch = request.headers['if-none-match'];
    let slot: CacheSlot | undefined;
    try {
      if (this.cache.enabled) {
        const catalog = this.packages.currentCatalog();
        const window = this.packages.urlWindow();
        // A space ends the request target, so it cannot occur in `search`: the key is unambiguous.
        slot = { catalog, window, key: `${search} ${ifNoneMatch ?? ''}` };
        const cached = this.cache.get(catalog, window, slot.key);
        if (cached !== undefined) {
          this.hits++;
          this.send(method, response, cached);
          // Sent whole and synchronously: no need to wait for 'close' to know status and duration.
          this.count(method, response.statusCode, started);
          return true;
        }
        this.misses++;
      }
    } catch (error) {
      slot = undefined;
      this.fail(response, error);
    }
    response.once('close', () => this.count(method, response.statusCode, started));
    if (!response.headersSent) this.answer(request, response, search, ifNoneMatch, slot).catch((error: unknown) => this.fail(response, error));
    return true;
  }

  private async answer(request: IncomingMessage, response: ServerResponse, search: string, ifNoneMatch: string | undefined, slot?: CacheSlot): Promise<void> {
    response.setHeader('Vary', 'If-None-Match');
    // A refused check (400, 414, 404) is answered by fail(), like any other error.
    const parsed = parseDeviceQuery(queryOf(search), ifNoneMatch, this.config.deviceRequestLimits);
    const answer = this.packages.decide(parsed, slot?.catalog);

    if (answer.notModified || parsed.payloadType === 'metadataOnly') {
      const status = answer.notModified ? 304 : 200;
      // Another query may have led to the same decision: its answer is the same bytes.
      const encoded = (slot && this.cache.shared(slot.catalog, slot.window, status, answer.etag)) ?? (await this.encode(answer));
      if (slot) this.cache.set(slot.catalog, slot.window, slot.key, encoded);
      this.send(request.method, response, encoded);
      return;
    }
    response.setHeader('Cache-Control', this.cacheControl);
    response.setHeader('ETag', answer.etag);
    const details = await this.packages.details(answer.decision);
    response.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Disposition': 'attachment; filename="ota-package.tar.gz"' });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.flushHeaders();
    await this.packages.streamPayload(answer.decision, details, response);
  }

  private async encode(answer: PackageAnswer): Promise<EncodedAnswer> {
    const headers = ['Vary', 'If-None-Match', 'Cache-Control', this.cacheControl, 'ETag', answer.etag];
    if (answer.notModified) return { status: 304, etag: answer.etag, headers };
    const body = JSON.stringify(await this.packages.details(answer.decision));
    headers.push('Content-Type', JSON_CONTENT_TYPE, 'Content-Length', String(Buffer.byteLength(body)));
    return { status: 200, etag: answer.etag, headers, body };
  }

  /** The same bytes whether the answer was computed now or cached. */
  private send(method: string | undefined, response: ServerResponse, answer: EncodedAnswer): void {
    response.writeHead(answer.status, answer.headers as string[]);
    response.end(method === 'HEAD' ? undefined : answer.body);
  }

  /** Answers an error as the framework's filter would (one mapping, {@link toHttpError}); a refused check may be cached briefly, a failure not. */
  private fail(response: ServerResponse, error: unknown): void {
    const { status, body, headers } = toHttpError(error);
    if (status >= 500 || response.headersSent) {
      this.logger.error(`device check failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    if (response.headersSent) {
      // The payload had started: cutting the connection is the only honest signal left.
      response.destroy();
      return;
    }
    const text = JSON.stringify(body);
    response.writeHead(status, {
      ...headers,
      'Content-Type': JSON_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(text),
      'Cache-Control': status < 500 ? ERROR_CACHE_CONTROL : 'no-store',
    });
    response.end(text);
  }

  private count(method: 'GET' | 'HEAD', status: number, started: bigint): void {
    const counts = this.requests[method];
    counts.set(status, (counts.get(status) ?? 0) + 1);
    this.metrics.httpDuration.observe(DURATION_LABELS[method], Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Hot-path counts are plain numbers, handed to the registry when it is scraped. */
  private registerMetrics(): void {
    this.metrics.tallyRequests(() => {
      for (const method of ['GET', 'HEAD'] as const) {
        for (const [status, count] of this.requests[method]) this.metrics.httpRequests.inc({ method, route: ROUTE, status: String(status) }, count);
        this.requests[method].clear();
      }
    });
    let reportedHits = 0;
    let reportedMisses = 0;
    const lookups: Counter<'result'> = new Counter({
      name: 'ota_package_cache_lookups_total',
      help: 'GET /package answer cache lookups by result (hit, miss)',
      labelNames: ['result'] as const,
      registers: [this.metrics.registry],
      collect: () => {
        lookups.inc({ result: 'hit' }, this.hits - reportedHits);
        lookups.inc({ result: 'miss' }, this.misses - reportedMisses);
        reportedHits = this.hits;
        reportedMisses = this.misses;
      },
    });
    const bytes: Gauge = new Gauge({
      name: 'ota_package_cache_bytes',
      help: 'Estimated memory held by cached GET /package answers (bounded by PACKAGE_CACHE_BYTES)',
      registers: [this.metrics.registry],
      collect: () => bytes.set(this.cache.size.bytes),
    });
  }
}
