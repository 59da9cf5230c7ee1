import { createHash } from 'node:crypto';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract } from 'tar-stream';

export interface Download {
  status: number;
  headers: IncomingHttpHeaders;
  /** Body bytes received. */
  bytes: number;
  sha256: string;
  /** The body as text when it is small JSON (errors), else undefined. */
  text?: string;
  /** False when the connection ended before Content-Length bytes arrived. */
  complete: boolean;
}

/** A plain node:http request, as a device would make it. */
export function httpRequest(url: string, options: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: false }, resolve);
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Downloads `url`, hashing the body as it streams (the artifact is never held in memory).
 * `onData` sees each piece; it may kill things mid-transfer.
 */
export async function download(url: string, headers: Record<string, string> = {}, onData?: (received: number) => void, hash = createHash('sha256')): Promise<Download> {
  const res = await httpRequest(url, { headers });
  const isJson = (res.headers['content-type'] ?? '').includes('json');
  const text: Buffer[] = [];
  let bytes = 0;
  await new Promise<void>((resolve) => {
    res.on('data', (part: Buffer) => {
      bytes += part.length;
      hash.update(part);
      if (isJson && bytes < 1024 * 1024) text.push(part);
      onData?.(bytes);
    });
    res.once('end', resolve);
    res.once('close', resolve);
    res.once('error', () => resolve());
  });
  return {
    status: res.statusCode ?? 0,
    headers: res.headers,
    bytes,
    // A copy, so that a caller resuming a download can keep feeding the same hash.
    sha256: hash.copy().digest('hex'),
    text: isJson ? Buffer.concat(text).toString('utf8') : undefined,
    complete: res.complete,
  };
}

/** GET and parse JSON. */
export async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T; headers: IncomingHttpHeaders }> {
  const d = await download(url, headers);
  return { status: d.status, headers: d.headers, body: (d.text ? JSON.parse(d.text) : undefined) as T };
}

/** One sample of a Prometheus text exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export function parsePrometheus(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const pair of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[pair[1]] = pair[2];
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return samples;
}

/** Sum of a metric's samples whose labels include `labels`. */
export function metricValue(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);
}

export async function scrape(baseUrl: string): Promise<Sample[]> {
  const d = await httpRequest(`${baseUrl}/metrics`);
  const parts: Buffer[] = [];
  for await (const part of d) parts.push(part as Buffer);
  return parsePrometheus(Buffer.concat(parts).toString('utf8'));
}

/** Downloads a full `/package` payload (tar.gz) and answers its members' names and SHA-256, in order. */
export async function tarEntries(url: string): Promise<{ contentType: string | undefined; entries: { name: string; sha256: string }[] }> {
  const res = await httpRequest(url);
  if (res.statusCode !== 200) throw new Error(`GET ${url}: HTTP ${res.statusCode}`);
  const entries: { name: string; sha256: string }[] = [];
  const tar = extract();
  tar.on('entry', (header, stream, next) => {
    const hash = createHash('sha256');
    stream.on('data', (part: unknown) => void hash.update(part as Buffer));
    stream.on('end', () => {
      entries.push({ name: header.name, sha256: hash.digest('hex') });
      next();
    });
  });
  await pipeline(res, createGunzip(), tar);
  return { contentType: res.headers['content-type'], entries };
}
