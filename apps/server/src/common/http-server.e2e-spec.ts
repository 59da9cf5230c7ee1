import type { Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { adminHeaders, startTestApp, type TestApp } from '@test/support/app';
import { AppConfig } from '../config/app-config';
import { createHttpServer } from './http-server';

interface RawAnswer {
  status?: number;
  headers: Record<string, string>;
  body: string;
  /** When the appliance closed the connection, in ms after the first byte was sent. */
  closedAfterMs: number;
}

/** Longer than any deadline under test: a connection still open then is one the server failed to close. */
const GIVE_UP_MS = 20_000;

/**
 * Speaks HTTP on a bare TCP socket, as broken or hostile clients do: sends `chunks` (pausing
 * `pauseMs` between two), stops sending early once an answer arrives, and reads until the
 * server closes the connection (or GIVE_UP_MS pass).
 */
function rawExchange(url: string, chunks: (string | Buffer)[], pauseMs = 0): Promise<RawAnswer> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const giveUp = setTimeout(() => socket.destroy(), GIVE_UP_MS);
    const received: Buffer[] = [];
    const startedAt = Date.now();
    let next = 0;
    let timer: NodeJS.Timeout | undefined;
    const sendNext = () => {
      if (next >= chunks.length || received.length > 0 || socket.destroyed) return;
      socket.write(chunks[next++], () => {
        timer = setTimeout(sendNext, pauseMs);
      });
    };
    socket.on('connect', sendNext);
    socket.on('data', (data) => received.push(data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      clearTimeout(giveUp);
      const text = Buffer.concat(received).toString('latin1');
      const [head = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = head.split('\r\n');
      const status = /^HTTP\/1\.1 (\d{3}) /.exec(statusLine)?.[1];
      const headers = Object.fromEntries(headerLines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]));
      if (received.length === 0) return resolve({ headers: {}, body: '', closedAfterMs: Date.now() - startedAt });
      if (!status) return reject(new Error(`not an HTTP answer: ${JSON.stringify(text.slice(0, 200))}`));
      resolve({ status: Number(status), headers, body: rest.join('\r\n\r\n'), closedAfterMs: Date.now() - startedAt });
    });
  });
}

describe('the HTTP server at its edges', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({
      env: {
        HTTP_HEADERS_TIMEOUT_SECONDS: '1',
        HTTP_REQUEST_TIMEOUT_SECONDS: '30',
        HTTP_IDLE_TIMEOUT_SECONDS: '2',
        HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: '70',
        HTTP_MAX_HEADER_BYTES: '8192',
      },
    });
  });

  afterAll(async () => appliance.dispose());

  it('runs with the configured timeouts', async () => {
    const server = appliance.app.getHttpServer() as Server;
    expect({
      headersTimeout: server.headersTimeout,
      requestTimeout: server.requestTimeout,
      timeout: server.timeout,
      keepAliveTimeout: server.keepAliveTimeout,
    }).toEqual({ headersTimeout: 1000, requestTimeout: 30_000, timeout: 2000, keepAliveTimeout: 70_000 });
    // Clients and proxies learn how long an idle keep-alive connection stays open.
    const response = await fetch(`${appliance.url}/healthz`);
    await response.arrayBuffer();
    expect(response.headers.get('keep-alive')).toBe('timeout=70');
  });

  it('answers request headers over HTTP_MAX_HEADER_BYTES with a JSON 431', async () => {
    // 10,000 bytes: within Node's default of 16 KiB, so only the configured 8192 refuses them.
    const answer = await rawExchange(appliance.url, [`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: ${'a'.repeat(10_000)}\r\n\r\n`]);
    expect(answer.status).toBe(431);
    expect(answer.headers['content-type']).toMatch(/^application\/json/);
    expect(answer.headers.connection).toBe('close');
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 431, error: 'Request Header Fields Too Large', message: expect.stringContaining('8192') });
  });

  it('answers a query string that makes the request line too long with a JSON 431', async () => {
    const answer = await rawExchange(appliance.url, [`GET /package?cpuArch=${'a'.repeat(9000)} HTTP/1.1\r\nHost: x\r\n\r\n`]);
    expect(answer.status).toBe(431);
    expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 431 });
  });

  it.each([
    ['a garbage request line', 'HELLO WORLD\r\n\r\n'],
    ['a header without a colon', 'GET /healthz HTTP/1.1\r\nHost x\r\n\r\n'],
    ['a bad Content-Length', 'POST /devices/d1/status HTTP/1.1\r\nHost: x\r\nContent-Length: 12abc\r\n\r\n'],
    ['a NUL in the request target', 'GET /healthz\0 HTTP/1.1\r\nHost: x\r\n\r\n'],
    ['a TLS handshake on the plain port', Buffer.from('160301020001000200', 'hex')],
  ])('answers %s with a JSON 400', async (_case, request) => {
    const answer = await rawExchange(appliance.url, [request]);
    expect(answer.status).toBe(400);
    expect(answer.headers.connection).toBe('close');
    expect(answer.headers['content-length']).toBe(String(Buffer.byteLength(answer.body)));
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/^malformed HTTP request/) });
  });

  it('cuts a client that sends its headers slower than HTTP_HEADERS_TIMEOUT_SECONDS with a JSON 408', async () => {
    // One header byte every 100 ms: the connection is never idle, the headers never complete in time.
    const trickle = ['GET /healthz HTTP/1.1\r\nHost: x\r\n', ...'X-Slow: '.concat('s'.repeat(200)).split('')];
    const answer = await rawExchange(appliance.url, trickle, 100);
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toEqual({ statusCode: 408, error: 'Request Timeout', message: expect.any(String) });
    // The deadline is 1 s, checked every 0.5 s: well before the 20 s the trickle would take.
    expect(answer.closedAfterMs).toBeLessThan(5000);
  });

  it('cuts an upload whose client stops sending for HTTP_IDLE_TIMEOUT_SECONDS with a JSON 408', async () => {
    const head = [
      'PUT /api/v1/components/idle/versions/1.0.0 HTTP/1.1',
      'Host: x',
      `Authorization: ${adminHeaders().authorization}`,
      'Content-Type: application/octet-stream',
      'Content-Length: 100000',
    ].join('\r\n');
    const answer = await rawExchange(appliance.url, [`${head}\r\n\r\n`, Buffer.alloc(1000, 1)]);
    expect(answer.status).toBe(408);
    expect(JSON.parse(answer.body)).toMatchObject({ statusCode: 408 });
    expect(answer.closedAfterMs).toBeLessThan(10_000);
    const versions = await fetch(`${appliance.url}/api/v1/components/idle/versions`, { headers: adminHeaders() });
    expect(versions.status).toBe(404);
  });

  it('still serves normal requests on keep-alive connections afterwards', async () => {
    for (let i = 0; i < 3; i++) expect((await fetch(`${appliance.url}/healthz`)).status).toBe(200);
  });
});

describe(createHttpServer.name, () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // The appliance finishing an upload (storing, signing) writes nothing for a while: that is not the client stalling.
    server = createHttpServer(
      { headersTimeoutSeconds: 5, requestTimeoutSeconds: 0, idleTimeoutSeconds: 1, keepAliveTimeoutSeconds: 1, maxHeaderBytes: 16384 },
      (request, response) => {
        request.resume();
        request.on('end', () => setTimeout(() => response.end('done'), 2500));
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(async () => new Promise((resolve) => server.close(resolve)));

  it('replaces every one of Node’s defaults with the appliance’s own', () => {
    const server = createHttpServer(AppConfig.fromEnvironment({}).http);
    expect({ headersTimeout: server.headersTimeout, requestTimeout: server.requestTimeout, timeout: server.timeout, keepAliveTimeout: server.keepAliveTimeout }).toEqual({
      headersTimeout: 60_000,
      requestTimeout: 0,
      timeout: 120_000,
      keepAliveTimeout: 65_000,
    });
  });

  it('leaves a received request alone while the server works on it past the idle timeout, then closes the idle connection', async () => {
    const answer = await rawExchange(url, ['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\npayload']);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('done');
    expect(answer.headers['keep-alive']).toBe('timeout=1');
  });
});
