import type { NextFunction, Request, Response } from 'express';
import type { MetricsService } from './metrics.service';

/** Counts every response, labelled by the matched route pattern (never the raw path, which would explode cardinality). */
export function httpMetricsMiddleware(metrics: MetricsService) {
  return (request: Request, response: Response, next: NextFunction): void => {
    const stop = process.hrtime.bigint();
    response.once('close', () => {
      const route = (request.route as { path?: string } | undefined)?.path ?? 'unmatched';
      const method = request.method;
      metrics.httpRequests.inc({ method, route, status: String(response.statusCode) });
      metrics.httpDuration.observe({ method, route }, Number(process.hrtime.bigint() - stop) / 1e9);
    });
    next();
  };
}
