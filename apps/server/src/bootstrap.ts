import 'reflect-metadata';
import { ValidationPipe } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { Logger } from 'nestjs-pino';
import { AppModule } from './app.module';
import { HttpErrorFilter } from './common/http-error.filter';
import { errorBody } from './common/http-error-mapper';
import { DEVICE_TOKEN_SCHEME } from './common/device-token';
import { ConfiguredExpressAdapter } from './common/http-server';
import { rejectUnsafeInput } from './common/untrusted-input';
import { AppConfig } from './config/app-config';
import { MetricsService } from './metrics/metrics.service';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware';
import { describePackageRoute } from './packages/package.openapi';
import { PackageHttpHandler } from './packages/package-http.handler';

/** Requests whose body is a raw binary streamed to the object store: no body parser may touch them. */
const UPLOAD_PATH = /^\/api\/v1\/components\/[^/]+\/versions\/[^/]+\/?(\?.*)?$/;
const JSON_BODY_LIMIT = '1mb';

function isUpload(request: IncomingMessage): boolean {
  return request.method === 'PUT' && UPLOAD_PATH.test(request.url ?? '');
}

/**
 * A client that announces an oversized upload with `Expect: 100-continue` (curl does for large
 * bodies) gets its 413 before sending a byte, instead of after streaming gigabytes.
 */
function rejectOversizedUploadsEarly(server: Server, maxUploadBytes: number): void {
  server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    const length = Number(request.headers['content-length']);
    if (isUpload(request) && Number.isFinite(length) && length > maxUploadBytes) {
      const body = JSON.stringify(errorBody(413, `upload of ${length} bytes is larger than MAX_UPLOAD_BYTES (${maxUploadBytes})`));
      response.writeHead(413, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), Connection: 'close', 'Cache-Control': 'no-store' });
      response.end(body);
      return;
    }
    response.writeContinue();
    server.emit('request', request, response);
  });
}

/** Device checks skip the framework's router (see PackageHttpHandler); everything else goes on to it. */
function serveDeviceChecksFirst(server: Server, handler: PackageHttpHandler): void {
  const frameworkListeners = server.listeners('request') as ((request: IncomingMessage, response: ServerResponse) => void)[];
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (handler.handle(request, response)) return;
    for (const listener of frameworkListeners) listener.call(server, request, response);
  });
}

export async function createApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(config), new ConfiguredExpressAdapter(config.http), {
    bodyParser: false,
    bufferLogs: true,
    abortOnError: false,
  });
  app.useLogger(app.get(Logger));
  app.set('etag', false);
  app.disable('x-powered-by');
  // Flat key=value parsing: device attributes are plain strings, and repeats become arrays (then refused).
  app.set('query parser', 'simple');

  const jsonParser = express.json({ limit: JSON_BODY_LIMIT });
  app.use((request: Request, response: Response, next: NextFunction) => (isUpload(request) ? next() : jsonParser(request, response, next)));
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  app.use(rejectUnsafeInput(config.maxJsonDepth));

  app.useGlobalFilters(new HttpErrorFilter());
  app.useGlobalPipes(new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true, transform: true }));

  const document = SwaggerModule.createDocument(
    app,
    new DocumentBuilder()
      .setTitle('OTA appliance')
      .setDescription('Device API (GET /package, /artifacts, MQTT documented in the README) and admin API (/api/v1, Bearer API key).')
      .setVersion('v1')
      // addSecurity, not addBearerAuth, which would call the opaque keys and tokens JWTs.
      .addSecurity('bearer', {
        type: 'http',
        scheme: 'bearer',
        description: 'Admin API key (Authorization: Bearer <key>); scopes read < write < admin, each operation names the one it needs in its 403',
      })
      .addSecurity(DEVICE_TOKEN_SCHEME, {
        type: 'http',
        scheme: 'bearer',
        description: 'Device token from POST /api/v1/devices (Authorization: Bearer <token>); required when DEVICE_AUTH=token, ignored otherwise',
      })
      .build(),
  );
  describePackageRoute(document);
  SwaggerModule.setup('docs', app, document, { jsonDocumentUrl: 'docs/openapi.json' });

  const server = app.getHttpServer() as Server;
  serveDeviceChecksFirst(server, app.get(PackageHttpHandler));
  rejectOversizedUploadsEarly(server, config.maxUploadBytes);
  app.enableShutdownHooks();
  return app;
}

/** Starts the appliance and answers once it listens. */
export async function startApp(config: AppConfig): Promise<NestExpressApplication> {
  const app = await createApp(config);
  await app.listen(config.port, config.bindAddress);
  return app;
}
