import { DeviceRequestError, parseDeviceQuery, type DeviceRequest } from '@app/resolver';
import { Injectable, Logger } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DomainError } from '../common/domain-error';
import { errorBody } from '../common/http-error.filter';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';
import { PackageService } from './package.service';

/** Errors are cached briefly, so a CDN absorbs a misconfigured fleet without pinning a mistake for long. */
const ERROR_CACHE_CONTROL = 'public, max-age=10';
const ROUTE = '/package';

function queryOf(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = Object.create(null);
  for (const [key, value] of new URLSearchParams(search)) {
    const seen = query[key];
    query[key] = seen === undefined ? value : Array.isArray(seen) ? [...seen, value] : [seen, value];
  }
  return query;
}

/**
 * GET/HEAD /package: the device check, the hottest route of the appliance. It runs straight on
 * Node's HTTP server, ahead of the framework's router, pipes and guards (none of which it needs: it
 * is anonymous, reads only the in-memory catalog and validates its own input), which more than
 * doubles the checks a replica answers per second. The OpenAPI document describes it like any route.
 */
@Injectable()
export class PackageHttpHandler {
  private readonly logger = new Logger('Package');

  constructor(
    private readonly packages: PackageService,
    private readonly config: AppConfig,
    private readonly metrics: MetricsService,
  ) {}

  /** Answers the request when it is a device check; false lets the framework route it. */
  handle(request: IncomingMessage, response: ServerResponse): boolean {
    const url = request.url ?? '';
    const queryStart = url.indexOf('?');
    const path = queryStart === -1 ? url : url.slice(0, queryStart);
    if (path !== ROUTE || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    const started = process.hrtime.bigint();
    response.once('close', () => {
      const labels = { method: request.method!, route: ROUTE };
      this.metrics.httpRequests.inc({ ...labels, status: String(response.statusCode) });
      this.metrics.httpDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
    });
    this.answer(request, response, queryStart === -1 ? '' : url.slice(queryStart + 1)).catch((error: unknown) => this.fail(response, error));
    return true;
  }

  private async answer(request: IncomingMessage, response: ServerResponse, search: string): Promise<void> {
    response.setHeader('Vary', 'If-None-Match');
    let parsed: DeviceRequest;
    try {
      parsed = parseDeviceQuery(queryOf(search), request.headers['if-none-match'], this.config.deviceRequestLimits);
    } catch (error) {
      if (!(error instanceof DeviceRequestError)) throw error;
      this.sendError(response, error.httpStatus, error.message);
      return;
    }
    let answer;
    try {
      answer = this.packages.decide(parsed);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'NotFound') {
        this.sendError(response, 404, error.message);
        return;
      }
      throw error;
    }

    response.setHeader('Cache-Control', `public, max-age=${this.config.cacheTtlSeconds}`);
    response.setHeader('ETag', answer.etag);
    if (answer.notModified) {
      response.writeHead(304).end();
      return;
    }
    const details = await this.packages.details(answer.decision);
    if (parsed.payloadType === 'metadataOnly') {
      const body = JSON.stringify(details);
      response.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
      response.end(request.method === 'HEAD' ? undefined : body);
      return;
    }
    response.writeHead(200, { 'Content-Type': 'application/gzip', 'Content-Disposition': 'attachment; filename="ota-package.tar.gz"' });
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.flushHeaders();
    await this.packages.streamPayload(answer.decision, details, response);
  }

  private sendError(response: ServerResponse, status: number, message: string): void {
    const body = JSON.stringify(errorBody(status, message));
    response.writeHead(status, {
      'Content-Type': 'application/json; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': ERROR_CACHE_CONTROL,
    });
    response.end(body);
  }

  private fail(response: ServerResponse, error: unknown): void {
    this.logger.error(`device check failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    if (response.headersSent) {
      // The payload had started: cutting the connection is the only honest signal left.
      response.destroy();
      return;
    }
    const body = JSON.stringify(errorBody(500, 'internal error; the appliance log has the details'));
    response.writeHead(500, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    response.end(body);
  }
}
