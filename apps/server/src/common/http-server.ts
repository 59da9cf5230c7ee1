import type { NestApplicationOptions } from '@nestjs/common';
import { ExpressAdapter } from '@nestjs/platform-express';
import { createServer, ServerResponse, STATUS_CODES, type IncomingMessage, type RequestListener, type Server, type ServerOptions } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorBody } from './http-error-mapper';

/** The HTTP listener's limits (AppConfig.http); README's configuration table explains each default. */
export interface HttpServerSettings {
  headersTimeoutSeconds: number;
  /** 0: no limit on receiving a whole request (an upload takes as long as it takes while it flows). */
  requestTimeoutSeconds: number;
  idleTimeoutSeconds: number;
  keepAliveTimeoutSeconds: number;
  maxHeaderBytes: number;
}

/** How long a shutdown lets answers under way finish (Kubernetes allows 30 s for the whole stop by default). */
const SHUTDOWN_DRAIN_MS = 10_000;

/** How long a connection answered with an error stays open for reading, so the client gets the answer rather than a reset. */
const LINGER_MS = 2000;

/** The responses of each connection still being written: who is at work on a connection, the client or the appliance. */
const openResponses = new WeakMap<Duplex, Set<ServerResponse>>();

class TrackedServerResponse<Request extends IncomingMessage = IncomingMessage> extends ServerResponse<Request> {
  // Node passes options after the request, which the typings leave out: pass on whatever comes.
  constructor(...args: ConstructorParameters<typeof ServerResponse<Request>>) {
    super(...args);
    const socket = this.req.socket;
    const responses = openResponses.get(socket) ?? new Set<ServerResponse>();
    openResponses.set(socket, responses);
    responses.add(this);
    this.on('close', forgetResponse);
  }
}

// One function for every response (no closure per request on the hot path).
function forgetResponse(this: ServerResponse): void {
  openResponses.get(this.req.socket)?.delete(this);
}

const responsesOn = (socket: Duplex): ServerResponse[] => [...(openResponses.get(socket) ?? [])];

/** Node checks the header and request deadlines on an interval (30 s by default): often enough to keep a short deadline within half of itself. */
function connectionsCheckingIntervalMs(settings: HttpServerSettings): number {
  const deadlinesMs = [settings.headersTimeoutSeconds, settings.requestTimeoutSeconds].filter((seconds) => seconds > 0).map((seconds) => seconds * 1000);
  return Math.max(100, Math.min(30_000, ...deadlinesMs.map((deadline) => deadline / 2)));
}

function httpServerOptions(settings: HttpServerSettings): ServerOptions {
  return {
    headersTimeout: settings.headersTimeoutSeconds * 1000,
    requestTimeout: settings.requestTimeoutSeconds * 1000,
    keepAliveTimeout: settings.keepAliveTimeoutSeconds * 1000,
    maxHeaderSize: settings.maxHeaderBytes,
    connectionsCheckingInterval: connectionsCheckingIntervalMs(settings),
    ServerResponse: TrackedServerResponse,
  };
}

/** An error answer written straight onto the socket, where Node's parser or a deadline leaves no response object to use. */
function rawErrorAnswer(status: number, message: string): string {
  const body = JSON.stringify(errorBody(status, message));
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}`,
    `Date: ${new Date().toUTCString()}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

function timeoutMessage(settings: HttpServerSettings): string {
  const whole = settings.requestTimeoutSeconds > 0 ? ` and the whole request within ${settings.requestTimeoutSeconds} s` : '';
  return `the request did not arrive in time: send the request line and headers within ${settings.headersTimeoutSeconds} s${whole}`;
}

/** The answer Node would give (431, 413, 408, 400), in the appliance's JSON error shape. */
function describeClientError(error: NodeJS.ErrnoException, settings: HttpServerSettings): { status: number; message: string } {
  switch (error.code ?? '') {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, message: `the request line and headers are larger than ${settings.maxHeaderBytes} bytes (HTTP_MAX_HEADER_BYTES)` };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, message: 'the chunk extensions of the request body are too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, message: timeoutMessage(settings) };
    default:
      return { status: 400, message: `malformed HTTP request (${error.code ?? 'parse error'}: ${error.message.replace(/^Parse Error: /, '')})` };
  }
}

/** Answers once and closes; reading goes on meanwhile, so that a client still sending is not reset before it reads the answer. */
function answerAndClose(socket: Duplex, answer: string): void {
  socket.end(answer);
  const linger = setTimeout(() => socket.destroy(), LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
}

const answered = new WeakSet<Duplex>();

/**
 * Gives the errors Node's HTTP parser and deadlines detect (oversized or malformed headers, a
 * request that does not arrive in time) the JSON body every other error has, and closes idle
 * connections, except while the appliance itself works on a request it has fully received (an
 * upload being stored and signed): that silence is not the client's.
 */
function guardConnections(server: Server, settings: HttpServerSettings): void {
  server.timeout = settings.idleTimeoutSeconds * 1000;

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    // The parser reports its error again for every later chunk the client sends.
    if (answered.has(socket)) return;
    answered.add(socket);
    // Nothing can be said on a connection that is gone, or in the middle of an answer already started.
    const answerStarted = responsesOn(socket).some((response) => response.headersSent && !response.writableEnded);
    if (error.code === 'ECONNRESET' || !socket.writable || answerStarted) {
      socket.destroy();
      return;
    }
    const { status, message } = describeClientError(error, settings);
    answerAndClose(socket, rawErrorAnswer(status, message));
  });

  server.on('timeout', (socket: Socket) => {
    const responses = responsesOn(socket);
    // The client does not take an answer already under way: nothing more to say, only to close.
    const clientNotReading = responses.some((response) => response.headersSent && !response.writableFinished);
    // The client sends no more of a request the appliance is still reading (a full buffer would mean the appliance stopped reading).
    const clientNotSending = responses.some((response) => !response.headersSent && !response.req.complete && response.req.readableLength < response.req.readableHighWaterMark);
    // Otherwise an answer not yet begun is the appliance at work (storing, signing, waiting on the object store): not the client's silence.
    const applianceAtWork = responses.some((response) => !response.headersSent);
    if (!clientNotReading && clientNotSending && socket.writable && !answered.has(socket)) {
      answered.add(socket);
      answerAndClose(socket, rawErrorAnswer(408, `the client sent nothing for ${settings.idleTimeoutSeconds} s (HTTP_IDLE_TIMEOUT_SECONDS)`));
      return;
    }
    if (!clientNotReading && !clientNotSending && applianceAtWork) return;
    socket.destroy();
  });
}

/** An HTTP server with the configured limits and JSON answers to what Node's parser refuses. */
export function createHttpServer(settings: HttpServerSettings, listener?: RequestListener): Server {
  const server = createServer(httpServerOptions(settings), listener);
  guardConnections(server, settings);
  return server;
}

/**
 * Nest's Express adapter creates its server with `http.createServer(app)`, which takes none of
 * the options above (maxHeaderSize and connectionsCheckingInterval exist only there): this one
 * creates it with them.
 */
export class ConfiguredExpressAdapter extends ExpressAdapter {
  constructor(private readonly settings: HttpServerSettings) {
    super();
  }

  /**
   * Stops listening, closes idle keep-alive connections at once, and lets answers under way finish
   * for at most {@link SHUTDOWN_DRAIN_MS} before their connections are cut: a client that keeps a
   * connection busy (a stalled download) must not hold a shutdown for as long as it likes.
   */
  override async close(): Promise<void> {
    const server = this.getHttpServer() as Server | undefined;
    if (!server) {
      await super.close();
      return;
    }
    server.closeIdleConnections();
    const cut = setTimeout(() => server.closeAllConnections(), SHUTDOWN_DRAIN_MS);
    cut.unref();
    try {
      await super.close();
    } finally {
      clearTimeout(cut);
    }
  }

  override initHttpServer(options: NestApplicationOptions): void {
    if (options.httpsOptions || options.forceCloseConnections || options.return503OnClosing) {
      throw new Error('ConfiguredExpressAdapter serves plain HTTP only and does not track connections for shutdown');
    }
    this.httpServer = createHttpServer(this.settings, this.getInstance());
  }
}
