/**
 * Loads the reference sample data into a running appliance through its admin API:
 *   OTA_URL (default http://localhost:8080), OTA_API_KEY (default: DATA_DIR/initial-admin-key),
 *   SAMPLE_SIZE_BYTES (default 10 MiB per binary).
 * Binaries are pseudo-random but derived from component and version, so a second run finds
 * every version already there and changes nothing.
 */
import { SingleBar } from 'cli-progress';
import { createCipheriv, createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { SAMPLE_DATA } from './sample-data';

const DEFAULT_SIZE = 10 * 1024 * 1024;

/** Deterministic bytes: an AES-CTR keystream keyed by the component and version. */
export function sampleBinary(component: string, version: string, size: number, onBytes?: (n: number) => void): Readable {
  const key = createHash('sha256').update(`${component}@${version}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  const block = Buffer.alloc(256 * 1024);
  let produced = 0;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(block.length, size - produced);
      produced += length;
      onBytes?.(length);
      this.push(cipher.update(block.subarray(0, length)));
    },
  });
}

function apiKey(): string {
  if (process.env.OTA_API_KEY) return process.env.OTA_API_KEY;
  const file = join(resolve(process.env.DATA_DIR ?? './data'), 'initial-admin-key');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  throw new Error('set OTA_API_KEY to an API key with write scope (the appliance prints one at first start, or use ADMIN_API_KEY)');
}

async function request(base: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const response = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? JSON.parse(text) : undefined };
}

async function main(): Promise<void> {
  const base = (process.env.OTA_URL ?? 'http://localhost:8080').replace(/\/+$/, '');
  const size = Number(process.env.SAMPLE_SIZE_BYTES ?? DEFAULT_SIZE);
  if (!Number.isInteger(size) || size < 0) throw new Error('SAMPLE_SIZE_BYTES must be a whole number of bytes');
  const key = apiKey();

  const probe = await request(base, key, 'GET', '/api/v1/components');
  if (probe.status === 401 || probe.status === 403) throw new Error(`the appliance at ${base} refused the API key (${probe.status})`);

  const pending: { component: string; version: string; requiresFrom?: string }[] = [];
  for (const sample of SAMPLE_DATA) {
    const existing = await request(base, key, 'GET', `/api/v1/components/${sample.component}/versions`);
    const have = new Set(existing.status === 200 ? existing.json.map((v: { version: string }) => v.version) : []);
    for (const v of sample.versions) if (!have.has(v.version)) pending.push({ component: sample.component, ...v });
  }

  const bar = process.stdout.isTTY ? new SingleBar({ format: 'uploading {bar} {percentage}% | {value}/{total} bytes | {file}' }) : undefined;
  bar?.start(pending.length * size, 0, { file: '' });
  let sent = 0;
  for (const item of pending) {
    bar?.update(sent, { file: `${item.component} ${item.version}` });
    const query = item.requiresFrom ? `?requiresFrom=${encodeURIComponent(item.requiresFrom)}` : '';
    const response = await fetch(`${base}/api/v1/components/${item.component}/versions/${encodeURIComponent(item.version)}${query}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: Readable.toWeb(sampleBinary(item.component, item.version, size, (n) => bar?.update((sent += n)))) as ReadableStream,
      duplex: 'half',
    } as RequestInit);
    if (response.status !== 201 && response.status !== 200) {
      bar?.stop();
      throw new Error(`upload of ${item.component} ${item.version} failed: ${response.status} ${await response.text()}`);
    }
    await response.arrayBuffer();
  }
  bar?.stop();

  for (const sample of SAMPLE_DATA) {
    for (const channel of sample.channels) {
      const result = await request(base, key, 'PUT', `/api/v1/components/${sample.component}/channels/${channel.channel}`, {
        version: channel.version,
        attributes: channel.attributes,
      });
      if (result.status >= 300) throw new Error(`channel ${sample.component}/${channel.channel}: ${result.status} ${JSON.stringify(result.json)}`);
    }
  }
  const versions = SAMPLE_DATA.reduce((n, s) => n + s.versions.length, 0);
  const channels = SAMPLE_DATA.reduce((n, s) => n + s.channels.length, 0);
  process.stdout.write(
    `Sample data loaded into ${base}: ${pending.length} of ${versions} versions uploaded now (${versions - pending.length} were there), ${channels} channels set.\n`,
  );
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`seed:sample failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
