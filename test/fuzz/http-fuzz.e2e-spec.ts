import { writeFileSync } from 'node:fs';
import { Agent, request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/app';
import { sendJson } from '../support/http';
import { loadSampleData } from '../support/sample';
import { deepJson, forbiddenCharacter, fuzzSeed, SeededRandom } from './fuzz-random';

/**
 * Malformed requests derived from the OpenAPI document, for every operation, with and without the admin
 * key: NUL bytes and control characters, deep and invalid JSON, huge and duplicated parameters, bad
 * ranges, path traversal, odd headers. No answer may be a 5xx, every JSON error has the error shape, and
 * every request is answered within a bound (a hang fails the test instead of stalling it).
 *
 * FUZZ_SEED=<n> explores other cases; FUZZ_REPORT=<file> writes one line per request (operation, fault,
 * status, start of the body) to see what the cases reach.
 */

const CASES_PER_OPERATION = 80;
const ANSWER_TIMEOUT_MS = 15_000;
const IN_FLIGHT = 8;
/** Room for the first error lines in the test's message. */
const SHOWN_FAILURES = 25;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface SchemaObject {
  type?: string;
  $ref?: string;
  properties?: Record<string, SchemaObject>;
  items?: SchemaObject;
  example?: unknown;
  enum?: unknown[];
  default?: unknown;
}

interface ParameterObject {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  schema?: SchemaObject;
  example?: unknown;
}

interface OperationObject {
  parameters?: ParameterObject[];
  requestBody?: { content?: Record<string, { schema?: SchemaObject }> };
}

interface OpenApiDocument {
  paths: Record<string, Record<string, OperationObject>>;
  components?: { schemas?: Record<string, SchemaObject> };
}

interface Operation {
  name: string;
  method: string;
  template: string;
  query: ParameterObject[];
  headers: ParameterObject[];
  jsonBody?: Json;
  rawBody: boolean;
}

interface FuzzRequest {
  operation: string;
  fault: string;
  method: string;
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
}

interface Answer {
  status: number;
  contentType: string;
  body: Buffer;
}

/** A request under construction: the operation's valid form, which one fault then breaks. */
interface Draft {
  method: string;
  segments: Map<string, string>;
  query: [string, string][];
  headers: OutgoingHttpHeaders;
  body?: Buffer;
}

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'head', 'options']);

function operationsOf(document: OpenApiDocument): Operation[] {
  const schemas = document.components?.schemas ?? {};
  const resolve = (schema: SchemaObject | undefined): SchemaObject | undefined => (schema?.$ref ? resolve(schemas[schema.$ref.replace('#/components/schemas/', '')]) : schema);
  const exampleOf = (schema: SchemaObject | undefined): Json => {
    const resolved = resolve(schema);
    if (!resolved) return 'x';
    if (resolved.example !== undefined) return resolved.example as Json;
    if (resolved.enum) return resolved.enum[0] as Json;
    if (resolved.default !== undefined) return resolved.default as Json;
    switch (resolved.type ?? 'string') {
      case 'object':
        return Object.fromEntries(Object.entries(resolved.properties ?? {}).map(([key, value]) => [key, exampleOf(value)]));
      case 'array':
        return [exampleOf(resolved.items)];
      case 'number':
      case 'integer':
        return 1;
      case 'boolean':
        return true;
      default:
        return 'x';
    }
  };
  return Object.entries(document.paths).flatMap(([template, operations]) =>
    Object.entries(operations)
      .filter(([method]) => HTTP_METHODS.has(method))
      .map(([method, operation]) => {
        const content = operation.requestBody?.content ?? {};
        return {
          name: `${method.toUpperCase()} ${template}`,
          method: method.toUpperCase(),
          template,
          query: (operation.parameters ?? []).filter((p) => p.in === 'query'),
          headers: (operation.parameters ?? []).filter((p) => p.in === 'header'),
          jsonBody: content['application/json'] ? exampleOf(content['application/json'].schema) : undefined,
          rawBody: content['application/octet-stream'] !== undefined,
        };
      }),
  );
}

/** Path segments that must be refused or not found, never a 500 (already percent-encoded where they need it). */
const BAD_SEGMENTS = [
  '%00',
  'os%00x',
  '%01',
  '%1b%5b2J',
  '%7f',
  '..',
  '.',
  '..%2f..%2f..%2fetc%2fpasswd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '..%5c..%5cwindows%5cwin.ini',
  '....%2f%2f',
  '%c0%ae%c0%ae%2f',
  '%',
  '%zz',
  '%E0%A4%A',
  '%ED%A0%80',
  '%F0%9F%92%A9',
  '%20',
  "'%20OR%201%3D1--",
  'a%2Fb',
  '%u0000',
  '-1',
  '1e309',
  'NaN',
  '__proto__',
  'constructor',
  '%7B%7D',
  'x'.repeat(300),
  'x'.repeat(6000),
  'x'.repeat(20_000),
  'f'.repeat(64),
  'F'.repeat(64),
  '00000000-0000-0000-0000-000000000000',
];

/** Query values that are malformed, over-long or of the wrong type (encoded). */
const BAD_VALUES = ['%00', 'a%00b', '%1b', '%0b', '', '-1', '0', '1.5', 'abc', '1e309', 'NaN', '%', '%zz', '[]', '{}', 'x'.repeat(3000), 'x'.repeat(20_000), '%E0%A4%A', 'true'];

const RANGES = [
  'bytes=abc',
  'bytes=5-1',
  'bytes=-0',
  'bytes=0-',
  'bytes=-1',
  'bytes=999999999999999999999-',
  'bytes=0-999999999999999999999',
  'bytes=100000000-',
  'bytes=0-0,1-1,2-2',
  Array.from({ length: 500 }, (_, i) => `${i}-${i}`)
    .join(',')
    .replace(/^/, 'bytes='),
  'bytes=0-1,0-1',
  'items=0-1',
  'bytes=',
  'bytes',
  'bytes=--1',
  'bytes=1-2-3',
  'bytes= 0 - 1 ',
  `bytes=${'1'.repeat(400)}-`,
];

const AUTHORIZATIONS = ['Bearer', 'Bearer ', 'Bearer x', 'Basic dXNlcjpwYXNz', `Bearer ${'k'.repeat(8000)}`, 'bearer  spaced  out', `Bearer ${TEST_ADMIN_KEY}x`, 'Bearer \xff\xfe'];

const INVALID_JSON = [
  '{',
  '{"a":',
  '{"a":1,}',
  "{'a':1}",
  '{"a":NaN}',
  '{"a":undefined}',
  '{"a":1}/* comment */',
  '{"a":"\\x41"}',
  '{"a":"\\u12"}',
  '\ufeff{"a":1}',
  '{"a":1}{"b":2}',
  '"\\ud800"',
  '',
  ' ',
  'null',
  '1',
  '"text"',
  '[]',
  '[1,2,3]',
  'true',
];

function withFault(draft: Draft, fault: string, change: (draft: Draft) => void): { fault: string; draft: Draft } {
  const copy: Draft = { ...draft, segments: new Map(draft.segments), query: [...draft.query], headers: { ...draft.headers } };
  change(copy);
  return { fault, draft: copy };
}

/** Replaces a leaf (or adds a field) at a random place of a JSON value. */
function mutateJson(value: Json, random: SeededRandom, replacement: () => Json): Json {
  if (Array.isArray(value)) {
    if (value.length === 0 || random.chance(0.3)) return [...value, replacement()];
    const index = random.int(0, value.length - 1);
    return value.map((item, i) => (i === index ? mutateJson(item, random, replacement) : item));
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0 || random.chance(0.25)) return { ...value, [`extra${random.int(0, 9)}`]: replacement() };
    const key = random.pick(keys);
    return { ...value, [key]: mutateJson(value[key], random, replacement) };
  }
  return replacement();
}

/** Adds a key named `key` to a random object of a JSON value (to the value itself when it holds none). */
function addKey(value: Json, random: SeededRandom, key: string): Json {
  const objects: { [key: string]: Json }[] = [];
  const collect = (node: Json) => {
    if (Array.isArray(node)) node.forEach(collect);
    else if (node !== null && typeof node === 'object') {
      objects.push(node);
      Object.values(node).forEach(collect);
    }
  };
  const copy = structuredClone(value);
  collect(copy);
  if (objects.length === 0) return { [key]: copy };
  random.pick(objects)[key] = 'v';
  return copy;
}

function jsonBody(draft: Draft, text: string, contentType = 'application/json'): void {
  draft.body = Buffer.from(text);
  draft.headers['content-type'] = contentType;
}

/** Every way this fuzzer breaks one request of `operation`, each a function of the seeded source. */
function faultsFor(operation: Operation, random: SeededRandom): ((draft: Draft) => { fault: string; draft: Draft })[] {
  const segmentNames = [...operation.template.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
  const faults: ((draft: Draft) => { fault: string; draft: Draft })[] = [
    (draft) => withFault(draft, 'valid', () => undefined),
    (draft) =>
      withFault(draft, 'header: authorization', (d) => {
        d.headers.authorization = random.pick(AUTHORIZATIONS);
      }),
    (draft) =>
      withFault(draft, 'header: over-long', (d) => {
        d.headers['x-fuzz'] = 'h'.repeat(random.pick([4000, 20_000, 70_000]));
      }),
    (draft) =>
      withFault(draft, 'header: many', (d) => {
        for (let i = 0; i < random.pick([100, 1500]); i++) d.headers[`x-fuzz-${i}`] = String(i);
      }),
    (draft) =>
      withFault(draft, 'header: conditional garbage', (d) => {
        d.headers[random.pick(['if-none-match', 'if-modified-since', 'if-range', 'if-match', 'if-unmodified-since'])] = random.pick([
          '*',
          'W/"x"',
          'garbage',
          'Thu, 99 Foo 2020',
          `"${'a'.repeat(64)}", `.repeat(200),
          ',,,,',
          'x'.repeat(9000),
        ]);
      }),
    (draft) =>
      withFault(draft, 'header: accept', (d) => {
        d.headers.accept = random.pick(['application/xml', '*/*;q=foo', 'text/html', '', 'x'.repeat(2000)]);
        d.headers['accept-encoding'] = random.pick(['gzip', 'br;q=2', 'identity;q=0', 'x']);
      }),
    (draft) =>
      withFault(draft, 'method: HEAD or OPTIONS or unknown', (d) => {
        d.method = random.pick(['HEAD', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND']);
      }),
    (draft) =>
      withFault(draft, 'query: unknown parameters', (d) => {
        const count = random.pick([1, 70, 1000]);
        for (let i = 0; i < count; i++) d.query.push([`p${i}`, String(i)]);
      }),
    (draft) =>
      withFault(draft, 'query: NUL or control character in a name', (d) => {
        d.query.push([random.pick(['%00', 'a%00b', '%1b', 'k%0b']), '1']);
      }),
    (draft) =>
      withFault(draft, 'query: bracket and prototype syntax', (d) => {
        d.query.push(
          random.pick([
            ['a[]', '1'],
            ['a[b]', '1'],
            ['__proto__[x]', '1'],
            ['constructor[prototype][x]', '1'],
            ['__proto__', 'x'],
          ] as [string, string][]),
        );
      }),
    (draft) =>
      withFault(draft, 'path: traversal after the route', (d) => {
        d.segments.set('__suffix', random.pick(['/..%2f..%2fetc%2fpasswd', '/../../etc/passwd', '%2f..%2f..', '/%00', '//', '/.', '%00', '?#']));
      }),
    (draft) =>
      withFault(draft, 'body: on a route that takes none, or NUL in it', (d) => {
        jsonBody(d, JSON.stringify({ note: `x${forbiddenCharacter(random)}y` }));
      }),
    (draft) =>
      withFault(draft, 'body: deep JSON', (d) => {
        jsonBody(d, deepJson(random.pick([33, 100, 2000, 100_000]), random.pick(['array', 'object'] as const)));
      }),
  ];

  for (const name of segmentNames) {
    faults.push(
      (draft) =>
        withFault(draft, `path {${name}}: bad segment`, (d) => {
          d.segments.set(name, random.pick(BAD_SEGMENTS));
        }),
      (draft) =>
        withFault(draft, `path {${name}}: control character`, (d) => {
          d.segments.set(name, `a${encodeURIComponent(forbiddenCharacter(random))}b`);
        }),
    );
  }

  for (const parameter of operation.query) {
    faults.push(
      (draft) =>
        withFault(draft, `query ${parameter.name}: bad value`, (d) => {
          d.query = d.query.filter(([key]) => key !== parameter.name);
          d.query.push([parameter.name, random.pick(BAD_VALUES)]);
        }),
      (draft) =>
        withFault(draft, `query ${parameter.name}: duplicated`, (d) => {
          d.query.push([parameter.name, 'a'], [parameter.name, 'b']);
        }),
      (draft) =>
        withFault(draft, `query ${parameter.name}: another case`, (d) => {
          d.query.push([parameter.name.toUpperCase(), 'x']);
        }),
    );
  }

  if (operation.template.startsWith('/artifacts/')) {
    // Ranges are what this route is about: weighted well above the generic faults.
    const badRange = (draft: Draft) =>
      withFault(draft, 'header: bad range', (d) => {
        d.headers.range = random.pick(RANGES);
        if (random.chance(0.3)) d.headers['if-range'] = random.pick(['"nope"', 'Mon, 01 Jan 1990 00:00:00 GMT', 'garbage', `"${'0'.repeat(64)}"`]);
      });
    faults.push(...Array.from({ length: 12 }, () => badRange));
  }

  if (operation.jsonBody !== undefined) {
    const base = operation.jsonBody;
    faults.push(
      (draft) =>
        withFault(draft, 'body: NUL or control character in a string', (d) => {
          jsonBody(d, JSON.stringify(mutateJson(base, random, () => `a${forbiddenCharacter(random)}b`)));
        }),
      (draft) =>
        withFault(draft, 'body: NUL or control character in a key', (d) => {
          jsonBody(d, JSON.stringify(addKey(base, random, `k${forbiddenCharacter(random)}`)));
        }),
      (draft) =>
        withFault(draft, 'body: deep JSON inside a field', (d) => {
          const marker = '"__deep__"';
          const text = JSON.stringify(mutateJson(base, random, () => '__deep__'));
          jsonBody(d, text.replace(marker, deepJson(random.pick([33, 500, 2000, 50_000]), random.pick(['array', 'object'] as const))));
        }),
      (draft) =>
        withFault(draft, 'body: wrong types', (d) => {
          const wrong = (): Json => random.pick<Json>([null, true, 0, -1, 1.5, 'x', [], {}, [1, 'a'], { a: { b: 1 } }, 9007199254740993, '1'.repeat(400)]);
          jsonBody(d, JSON.stringify(mutateJson(base, random, wrong)));
        }),
      (draft) =>
        withFault(draft, 'body: extreme numbers', (d) => {
          const text = JSON.stringify(mutateJson(base, random, () => '__number__'));
          jsonBody(d, text.replace('"__number__"', random.pick(['1e309', '-1e309', '-0', '1e-400', '123456789012345678901234567890', '0.1e999999999'])));
        }),
      (draft) =>
        withFault(draft, 'body: huge string', (d) => {
          jsonBody(d, JSON.stringify(mutateJson(base, random, () => 'x'.repeat(random.pick([1001, 70_000, 900_000])))));
        }),
      (draft) =>
        withFault(draft, 'body: over the size limit', (d) => {
          jsonBody(d, JSON.stringify({ padding: 'x'.repeat(random.pick([1_100_000, 3_000_000])) }));
        }),
      (draft) =>
        withFault(draft, 'body: invalid JSON', (d) => {
          jsonBody(d, random.pick(INVALID_JSON));
        }),
      (draft) =>
        withFault(draft, 'body: duplicated keys', (d) => {
          const text = JSON.stringify(base);
          jsonBody(d, text.startsWith('{') && text.length > 2 ? `{${text.slice(1, -1)},${text.slice(1, -1)}}` : text);
        }),
      (draft) =>
        withFault(draft, 'body: prototype keys', (d) => {
          const key = random.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty']);
          const text = JSON.stringify(base);
          jsonBody(d, text.startsWith('{') ? `{"${key}":{"polluted":true,"prototype":{"x":1}},${text.slice(1)}` : `{"${key}":1}`);
        }),
      (draft) =>
        withFault(draft, 'body: lone surrogates and non-characters', (d) => {
          const text = JSON.stringify(mutateJson(base, random, () => '__text__'));
          jsonBody(d, text.replace('"__text__"', random.pick(['"\\ud800"', '"\\udfff\\ud800"', '"\\uffff"', '"\\ufeff"'])));
        }),
      (draft) =>
        withFault(draft, 'body: content type and charset', (d) => {
          d.body = Buffer.from(JSON.stringify(base));
          d.headers['content-type'] = random.pick([
            'text/plain',
            'application/x-www-form-urlencoded',
            'multipart/form-data; boundary=x',
            'application/json; charset=utf-16',
            'application/json; charset=koi8-r',
            'application/json; charset=nonsense',
            'application/vnd.api+json',
            'application/json; charset=utf-8; boundary=',
            '',
          ]);
        }),
      (draft) =>
        withFault(draft, 'body: content encoding', (d) => {
          d.body = Buffer.from(JSON.stringify(base));
          d.headers['content-type'] = 'application/json';
          d.headers['content-encoding'] = random.pick(['gzip', 'deflate', 'br', 'compress', 'x-custom', 'gzip, gzip', 'identity']);
        }),
    );
  }

  if (operation.rawBody) {
    faults.push(
      (draft) =>
        withFault(draft, 'upload: NUL or control character in notes or requiresFrom', (d) => {
          d.query.push([random.pick(['notes', 'requiresFrom']), `a${encodeURIComponent(forbiddenCharacter(random))}b`]);
        }),
      (draft) =>
        withFault(draft, 'upload: odd headers', (d) => {
          d.headers[random.pick(['x-notes', 'x-requires-from'])] = random.pick(['\xff\xfe', 'x'.repeat(5000), '', '1.0.0,2.0.0']);
        }),
      (draft) =>
        withFault(draft, 'upload: announced too large', (d) => {
          d.headers['content-length'] = String(random.pick([10 ** 15, 2 ** 53]));
          d.headers.expect = '100-continue';
          d.body = undefined;
        }),
      (draft) =>
        withFault(draft, 'upload: unknown expectation', (d) => {
          d.headers.expect = random.pick(['200-ok', 'x']);
        }),
    );
  }
  return faults;
}

/** What the appliance holds before the fuzz starts, so that valid requests reach the services. */
interface Fixtures {
  /** An artifact the fuzz's valid deletes do not touch (they aim at os_armv8 1.1.0). */
  sha256: string;
  rolloutId: string;
  keyId: string;
  /** The device of the device routes, with its token. */
  deviceId: string;
  deviceToken: string;
  /** The device of the admin routes (whose token they rotate). */
  adminDeviceId: string;
}

const isDeviceRoute = (template: string) => template.startsWith('/devices/') || template.startsWith('/peers/');

/** The operation's valid form: known names and ids, and the admin key (or the device token) or no credentials. */
function validDraft(operation: Operation, fixtures: Fixtures, withCredentials: boolean): Draft {
  const segments = new Map<string, string>();
  for (const match of operation.template.matchAll(/\{([^}]+)\}/g)) {
    const name = match[1];
    const value =
      name === 'component'
        ? 'os_armv8'
        : name === 'version'
          ? '1.1.0'
          : name === 'channel'
            ? 'prod'
            : name === 'sha256'
              ? fixtures.sha256
              : operation.template.includes('/rollouts/')
                ? fixtures.rolloutId
                : operation.template.includes('/keys/')
                  ? fixtures.keyId
                  : isDeviceRoute(operation.template)
                    ? fixtures.deviceId
                    : fixtures.adminDeviceId;
    segments.set(name, value);
  }
  const query: [string, string][] = operation.query
    .filter((parameter) => parameter.example !== undefined || parameter.name === 'cpuArch')
    .map((parameter) => [parameter.name, encodeURIComponent(String(parameter.example ?? 'armv8'))]);
  const headers: OutgoingHttpHeaders = {};
  if (withCredentials) headers.authorization = `Bearer ${isDeviceRoute(operation.template) ? fixtures.deviceToken : TEST_ADMIN_KEY}`;
  const draft: Draft = { method: operation.method, segments, query, headers };
  if (operation.jsonBody !== undefined) jsonBody(draft, JSON.stringify(operation.jsonBody));
  if (operation.rawBody) {
    draft.body = Buffer.from('fuzz binary');
    draft.headers['content-type'] = 'application/octet-stream';
  }
  return draft;
}

function toRequest(operation: Operation, fault: string, draft: Draft): FuzzRequest {
  let path = operation.template.replace(/\{([^}]+)\}/g, (_, name: string) => draft.segments.get(name) ?? name);
  path += draft.segments.get('__suffix') ?? '';
  if (draft.query.length > 0) path += `?${draft.query.map(([key, value]) => `${key}=${value}`).join('&')}`;
  return { operation: operation.name, fault, method: draft.method, path, headers: draft.headers, body: draft.body };
}

/** Paths outside the document: traversal and near-misses of real routes. */
function strayRequests(): FuzzRequest[] {
  const paths = [
    '/..%2f..%2fetc%2fpasswd',
    '/../../etc/passwd',
    '/artifacts/..%2f..%2f..%2fetc%2fpasswd',
    '/artifacts/%2e%2e/%2e%2e/etc/passwd',
    '/manifests/..%5c..%5c',
    '/docs/..%2f..%2fpackage.json',
    '/%00',
    '/package%00',
    '/package/',
    '//package',
    '/PACKAGE?cpuArch=armv8',
    '/package;cpuArch=armv8',
    '/api/v1/../../etc/passwd',
    '/api/v1/components/%2e%2e%2f%2e%2e',
    '/api/v1/%00/versions',
    '/devices//status',
    '/peers/register/..',
    '/%E0%A4%A',
    '/%',
    `/${'a/'.repeat(2000)}`,
  ];
  return paths.flatMap((path) =>
    ['GET', 'POST', 'DELETE'].map((method) => ({
      operation: 'stray paths',
      fault: 'path outside the document',
      method,
      path,
      headers: method === 'POST' ? { 'content-type': 'application/json', authorization: `Bearer ${TEST_ADMIN_KEY}` } : {},
      body: method === 'POST' ? Buffer.from('{"a":"\\u0000"}') : undefined,
    })),
  );
}

function send(baseUrl: string, agent: Agent, fuzz: FuzzRequest): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    // Framed explicitly: Node sends a GET's body unframed, which the server rightly reads as garbage.
    const headers = fuzz.body && fuzz.headers['content-length'] === undefined ? { ...fuzz.headers, 'content-length': fuzz.body.length } : fuzz.headers;
    const request = httpRequest({ host: url.hostname, port: url.port, method: fuzz.method, path: fuzz.path, headers, agent });
    const timer = setTimeout(() => {
      request.destroy();
      reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
    }, ANSWER_TIMEOUT_MS);
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => {
        clearTimeout(timer);
        resolve({ status: response.statusCode ?? 0, contentType: String(response.headers['content-type'] ?? ''), body: Buffer.concat(chunks) });
      });
      response.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(error);
    });
    if (fuzz.body && fuzz.headers.expect !== '100-continue') request.end(fuzz.body);
    else request.end();
  });
}

/** What is wrong with an answer, or undefined when it is a fine refusal (or a success). */
function verdict(fuzz: FuzzRequest, answer: Answer): string | undefined {
  if (answer.status >= 500) return `answered ${answer.status}: ${answer.body.toString('utf8').slice(0, 200)}`;
  if (answer.status < 400 || fuzz.method === 'HEAD' || !answer.contentType.includes('json')) return undefined;
  let body: unknown;
  try {
    body = JSON.parse(answer.body.toString('utf8'));
  } catch {
    return `answered ${answer.status} with a JSON content type and a body that does not parse`;
  }
  const { statusCode, error, message } = (body ?? {}) as { statusCode?: unknown; error?: unknown; message?: unknown };
  const messageOk = typeof message === 'string' || (Array.isArray(message) && message.every((m) => typeof m === 'string'));
  if (statusCode !== answer.status || typeof error !== 'string' || !messageOk) return `answered ${answer.status} without the error shape: ${JSON.stringify(body).slice(0, 200)}`;
  return undefined;
}

/** Node's limit on a request's head (request line and headers): over it, the server answers 431 and closes. */
const MAX_HEAD_BYTES = 16 * 1024;

/**
 * A connection cut without an answer is a fine refusal only for a request whose head is over Node's limit:
 * the server answers 431 and closes while the client may still be writing, and the client sees the reset.
 */
function isRefusedConnection(fuzz: FuzzRequest, error: NodeJS.ErrnoException): boolean {
  const headBytes = fuzz.path.length + Object.entries(fuzz.headers).reduce((sum, [name, value]) => sum + name.length + String(value).length + 4, 0);
  return headBytes > MAX_HEAD_BYTES && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
}

describe('HTTP fuzz derived from the OpenAPI document', () => {
  let appliance: TestApp;
  let operations: Operation[];
  let fixtures: Fixtures;

  beforeAll(async () => {
    // Device tokens on, so that the device routes run their authenticated path too.
    appliance = await startTestApp({ env: { DEVICE_AUTH: 'token' } });
    const sample = await loadSampleData(appliance.url, 4096);
    const device = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'fuzz-dev-1', attributes: { cpuArch: 'armv8' } });
    const adminDevice = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'fuzz-dev-2' });
    const key = await sendJson('POST', `${appliance.url}/api/v1/keys`, { name: 'fuzz', scope: 'read' });
    const rollout = await sendJson('POST', `${appliance.url}/api/v1/rollouts`, {
      component: 'scoreboard',
      channel: 'prod',
      version: '2.0.0',
      phases: [
        { percent: 50, holdSeconds: 3600 },
        { percent: 100, holdSeconds: 0 },
      ],
      maxFailureRate: 0.1,
      minReports: 5,
    });
    expect([device.status, adminDevice.status, key.status, rollout.status]).toEqual([201, 201, 201, 201]);
    fixtures = {
      sha256: sample.get('os_armv7@1.0.0')!.sha256,
      rolloutId: rollout.body.id,
      keyId: key.body.id,
      deviceId: 'fuzz-dev-1',
      deviceToken: device.body.token,
      adminDeviceId: 'fuzz-dev-2',
    };
    const response = await fetch(`${appliance.url}/docs/openapi.json`);
    operations = operationsOf((await response.json()) as OpenApiDocument);
    // The document's examples name other devices and no real rollout.
    for (const { jsonBody: body } of operations) {
      if (body === null || typeof body !== 'object' || Array.isArray(body)) continue;
      if ('deviceId' in body) body.deviceId = fixtures.deviceId;
      if ('rolloutId' in body) body.rolloutId = fixtures.rolloutId;
    }
  });

  afterAll(async () => appliance.dispose());

  it('answers at least 2,000 malformed requests across every operation without a 5xx, a malformed error or a hang', async () => {
    const random = new SeededRandom(fuzzSeed(20261210));
    const requests: FuzzRequest[] = [];
    for (const operation of operations) {
      const faults = faultsFor(operation, random);
      for (let i = 0; i < CASES_PER_OPERATION; i++) {
        // Every fault at least once, then at random; with and without the admin key in turn.
        const fault = i < faults.length ? faults[i] : random.pick(faults);
        const { fault: name, draft } = fault(validDraft(operation, fixtures, i % 2 === 0));
        requests.push(toRequest(operation, name, draft));
      }
    }
    requests.push(...strayRequests());
    // Shuffled, so that the valid deletes and puts among them change the state the others meet.
    for (let i = requests.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [requests[i], requests[j]] = [requests[j], requests[i]];
    }

    const agent = new Agent({ keepAlive: false, maxSockets: IN_FLIGHT });
    const failures: string[] = [];
    const answered = new Map<string, number>();
    const statuses: string[] = [];
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const fuzz = requests[next++];
        const where = `${fuzz.operation} [${fuzz.fault}] ${fuzz.method} ${fuzz.path.slice(0, 120)}`;
        try {
          const answer = await send(appliance.url, agent, fuzz);
          const problem = verdict(fuzz, answer);
          statuses.push(`${fuzz.operation} | ${fuzz.fault} | ${answer.status} | ${answer.body.toString('utf8').slice(0, 160).replace(/\s+/g, ' ')}`);
          if (problem) failures.push(`${where}: ${problem}`);
          answered.set(fuzz.operation, (answered.get(fuzz.operation) ?? 0) + 1);
        } catch (error) {
          const cut = error as NodeJS.ErrnoException;
          if (!isRefusedConnection(fuzz, cut)) failures.push(`${where}: ${cut.message}`);
          else answered.set(fuzz.operation, (answered.get(fuzz.operation) ?? 0) + 1);
          statuses.push(`${fuzz.operation} | ${fuzz.fault} | cut: ${cut.code}`);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    } finally {
      agent.destroy();
    }

    if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, `${statuses.join('\n')}\n`);
    expect(failures.slice(0, SHOWN_FAILURES)).toEqual([]);
    expect(requests.length).toBeGreaterThanOrEqual(2000);
    expect(operations.length).toBeGreaterThan(20);
    for (const operation of operations) expect([operation.name, answered.get(operation.name)]).toEqual([operation.name, CASES_PER_OPERATION]);
    // The appliance is still well after all of it.
    expect((await fetch(`${appliance.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${appliance.url}/package?cpuArch=armv7&payloadType=metadataOnly`)).status).toBe(200);
  });
});
