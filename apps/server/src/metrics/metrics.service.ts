import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The appliance's Prometheus registry. One per application instance, so tests can run several apps in one process. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly httpRequests = new Counter({
    name: 'ota_http_requests_total',
    help: 'HTTP requests by method, route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
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
    help: 'Artifact uploads by result (created, unchanged, conflict, rejected, failed)',
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
}
