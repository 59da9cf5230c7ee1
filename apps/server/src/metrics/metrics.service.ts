import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The appliance's Prometheus registry. One per application instance, so tests can run several apps in one process. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();
  private readonly requestTallies: (() => void)[] = [];

  readonly httpRequests = new Counter({
    name: 'ota_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
    collect: () => this.requestTallies.forEach((flush) => flush()),
  });

  readonly httpDuration = new Histogram({
    name: 'ota_http_request_duration_seconds',
    help: 'HTTP request duration until the response finished, by route',
    labelNames: ['method', 'route'] as const,
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120],
    registers: [this.registry],
  });

  readonly artifactBytesSent = new Counter({
    name: 'ota_artifact_bytes_sent_total',
    help: 'Artifact bytes sent to clients (downloads and package payloads)',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });

  readonly uploads = new Counter({
    name: 'ota_uploads_total',
    help: 'Artifact uploads by result (created, unchanged, conflict, rejected, no-space, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  readonly uploadBytes = new Counter({
    name: 'ota_upload_bytes_total',
    help: 'Bytes received in artifact uploads that were stored',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /**
   * For the hottest route: `flush` adds requests counted in plain numbers to httpRequests, and
   * runs whenever it is scraped (a labelled inc costs more than answering a cached device check).
   */
  tallyRequests(flush: () => void): void {
    this.requestTallies.push(flush);
  }
}
