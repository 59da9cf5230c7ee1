import { request as httpRequest } from 'node:http';
import { Readable } from 'node:stream';
import { adminHeaders } from './app';

export async function upload(
  baseUrl: string,
  component: string,
  version: string,
  body: Buffer | Readable,
  options: { headers?: Record<string, string>; query?: string; key?: string } = {},
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${baseUrl}/api/v1/components/${encodeURIComponent(component)}/versions/${encodeURIComponent(version)}${options.query ? `?${options.query}` : ''}`, {
    method: 'PUT',
    headers: { ...adminHeaders(options.key), 'content-type': 'application/octet-stream', ...options.headers },
    body: body instanceof Readable ? (Readable.toWeb(body) as ReadableStream) : body,
    duplex: 'half',
  } as RequestInit);
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

export async function getJson(url: string, headers: Record<string, string> = adminHeaders()): Promise<{ status: number; body: any; headers: Headers }> {
  const response = await fetch(url, { headers });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined, headers: response.headers };
}

export async function sendJson(method: string, url: string, body: unknown, headers: Record<string, string> = adminHeaders()): Promise<{ status: number; body: any }> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** Sends part of an upload and then cuts the connection, as a crashed uploader would. */
export function abortedUpload(baseUrl: string, path: string, sendBytes: number, declaredBytes: number): Promise<void> {
  return new Promise((resolve) => {
    const url = new URL(path, baseUrl);
    const request = httpRequest(url, {
      method: 'PUT',
      headers: { ...adminHeaders(), 'content-type': 'application/octet-stream', 'content-length': String(declaredBytes) },
    });
    request.on('error', () => resolve());
    request.on('response', () => resolve());
    request.write(Buffer.alloc(sendBytes, 7), () => {
      // Time passes on purpose: the cut should find the server streaming the body, past its checks.
      setTimeout(() => {
        request.destroy();
        resolve();
      }, 200);
    });
  });
}

/** A deterministic pseudo-random binary of `size` bytes, as a stream (never whole in memory). */
export function binaryStream(size: number, seed = 1): Readable {
  let produced = 0;
  let state = seed >>> 0 || 1;
  return new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const length = Math.min(256 * 1024, size - produced);
      const chunk = Buffer.allocUnsafe(Math.ceil(length / 4) * 4);
      for (let i = 0; i < chunk.length; i += 4) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        chunk.writeUInt32LE(state >>> 0, i);
      }
      produced += length;
      this.push(chunk.subarray(0, length));
    },
  });
}
