import { mkdtempSync, rmSync, utimesSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require('s3rver');

export interface TestS3 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  /** Makes an object look written at `at`: s3rver answers its file's mtime as LastModified. */
  backdate(bucket: string, key: string, at: Date): void;
  stop(): Promise<void>;
}

/** A real S3 HTTP server (s3rver) on a free port, standing in for MinIO, which cannot be installed here. */
export async function startTestS3(): Promise<TestS3> {
  const directory = mkdtempSync(join(tmpdir(), 'ota-s3-'));
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory });
  const address = (await server.run()) as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    accessKey: 'S3RVER',
    secretKey: 'S3RVER',
    backdate(bucket, key, at) {
      const parts = key.split('/');
      const name = parts.pop()!;
      utimesSync(join(directory, bucket, ...parts, `${name}._S3rver_object`), at, at);
    },
    async stop() {
      await server.close();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
