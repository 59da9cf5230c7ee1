import { existsSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { request as httpRequest, type ClientRequest } from 'node:http';
import { Client } from 'minio';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MinioObjectStore } from '../../apps/server/src/storage/minio-object-store';
import { adminHeaders, startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/app';
import { getJson } from '../support/http';
import { startMotoS3, type MotoS3 } from '../support/moto';
import { startBuiltAppliance } from '../support/process';
import { startTestS3, type TestS3 } from '../support/s3';
import { makeTempDir } from '../support/temp-dir';
import { until } from '../support/wait';

const MiB = 1024 * 1024;
const ORPHAN_AGE_SECONDS = 3600;
const twoHoursAgo = () => new Date(Date.now() - 2 * 3600 * 1000);

function uploadsIn(dataDir: string): string[] {
  const folder = join(dataDir, 'objects', 'uploads');
  return existsSync(folder) ? readdirSync(folder) : [];
}

describe('temporary uploads left by a crash', () => {
  it('are removed at the next start of an appliance killed with SIGKILL mid-upload, which owns DATA_DIR by its lock', async () => {
    const dataDir = makeTempDir();
    const env = { DATA_DIR: dataDir.path, ADMIN_API_KEY: TEST_ADMIN_KEY };
    let upload: ClientRequest | undefined;
    try {
      const crashing = await startBuiltAppliance(env);
      // An 80 MiB upload that sends its first megabytes, then stalls as a slow uploader would.
      upload = httpRequest(`${crashing.url}/api/v1/components/os_armv8/versions/9.9.9`, {
        method: 'PUT',
        headers: { ...adminHeaders(), 'content-type': 'application/octet-stream', 'content-length': String(80 * MiB) },
      });
      upload.on('error', () => undefined);
      upload.write(Buffer.alloc(4 * MiB, 9));
      const [temporary] = await until(
        async () => uploadsIn(dataDir.path),
        (files) => files.length === 1 && statSync(join(dataDir.path, 'objects', 'uploads', files[0])).size >= 2 * MiB,
      );
      expect(temporary).toBeDefined();
      await crashing.stop('SIGKILL');
      upload.destroy();
      expect(uploadsIn(dataDir.path)).toEqual([temporary]);

      const restarted = await startBuiltAppliance(env);
      try {
        expect(uploadsIn(dataDir.path)).toEqual([]);
        expect((await getJson(`${restarted.url}/api/v1/components/os_armv8/versions`)).status).toBe(404);
      } finally {
        expect(await restarted.stop()).toBe(0);
      }
    } finally {
      upload?.destroy();
      dataDir.remove();
    }
  });

  describe('in an S3 bucket other replicas may be uploading to', () => {
    const bucket = 'ota-orphans';
    let s3: TestS3;
    let store: MinioObjectStore;
    let appliance: TestApp;

    beforeAll(async () => {
      s3 = await startTestS3();
      appliance = await startTestApp({
        env: { S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY: s3.accessKey, S3_SECRET_KEY: s3.secretKey, S3_BUCKET: bucket, UPLOAD_ORPHAN_AGE_SECONDS: String(ORPHAN_AGE_SECONDS) },
      });
      store = new MinioObjectStore({ ...s3, bucket, region: 'us-east-1', partSizeBytes: 16 * MiB });
    });

    afterAll(async () => {
      await appliance?.dispose();
      await s3?.stop();
    });

    it('removes temporary objects older than UPLOAD_ORPHAN_AGE_SECONDS at start, and leaves younger ones and artifacts alone', async () => {
      for (const key of ['uploads/crashed', 'uploads/in-flight', 'artifacts/kept']) {
        await store.write(key, Readable.from([Buffer.from(key)]), key.length);
      }
      s3.backdate(bucket, 'uploads/crashed', twoHoursAgo());
      s3.backdate(bucket, 'artifacts/kept', twoHoursAgo());

      appliance = await appliance.restart();

      expect(await store.stat('uploads/crashed')).toBeUndefined();
      expect(await store.stat('uploads/in-flight')).toEqual({ size: 'uploads/in-flight'.length });
      expect(await store.stat('artifacts/kept')).toEqual({ size: 'artifacts/kept'.length });
    });
  });

  // s3rver cannot list or abort multipart uploads; moto's S3 server can.
  describe('as incomplete multipart uploads on an S3 server', () => {
    const bucket = 'ota-multipart';
    let moto: MotoS3;
    let store: MinioObjectStore;
    let client: Client;
    let appliance: TestApp;

    async function startMultipartUpload(key: string): Promise<void> {
      const uploadID = await client.initiateNewMultipartUpload(bucket, key, {});
      await client.uploadPart({ bucketName: bucket, objectName: key, uploadID, partNumber: 1, headers: {} }, Buffer.alloc(MiB, 1));
    }

    async function incompleteUploads(): Promise<string[]> {
      const page = await client.listIncompleteUploadsQuery(bucket, '', '', '', '');
      return page.uploads.map((upload) => upload.key).sort();
    }

    beforeAll(async () => {
      moto = await startMotoS3();
      store = new MinioObjectStore({ ...moto, bucket, region: 'us-east-1', partSizeBytes: 5 * MiB });
      await store.ensureBucket();
      const { hostname, port } = new URL(moto.endpoint);
      client = new Client({ endPoint: hostname, port: Number(port), useSSL: false, accessKey: moto.accessKey, secretKey: moto.secretKey, region: 'us-east-1', pathStyle: true });
    });

    afterAll(async () => {
      await appliance?.dispose();
      await moto?.stop();
    });

    it('leaves those that started after the cutoff', async () => {
      await startMultipartUpload('uploads/recent');
      // moto dates every upload in 2010: a cutoff before that makes them all recent.
      expect(await store.abortIncompleteWrites('uploads/', new Date('2001-01-01T00:00:00Z'))).toBe(0);
      expect(await incompleteUploads()).toEqual(['uploads/recent']);
    });

    it('aborts those under the uploads prefix older than UPLOAD_ORPHAN_AGE_SECONDS when the appliance starts, and no others', async () => {
      await startMultipartUpload('uploads/crashed');
      await startMultipartUpload('elsewhere/not-ours');
      appliance = await startTestApp({
        env: { S3_ENDPOINT: moto.endpoint, S3_ACCESS_KEY: moto.accessKey, S3_SECRET_KEY: moto.secretKey, S3_BUCKET: bucket, UPLOAD_ORPHAN_AGE_SECONDS: String(ORPHAN_AGE_SECONDS) },
      });
      expect(await incompleteUploads()).toEqual(['elsewhere/not-ours']);
    });
  });

  describe('in a DATA_DIR shared without the lock (filesystem store on external PostgreSQL)', () => {
    let appliance: TestApp;

    beforeAll(async () => {
      appliance = await startTestApp({ env: { UPLOAD_ORPHAN_AGE_SECONDS: String(ORPHAN_AGE_SECONDS) } });
    });

    afterAll(async () => appliance?.dispose());

    it('removes only temporary files older than UPLOAD_ORPHAN_AGE_SECONDS at start', async () => {
      const folder = join(appliance.dataDir, 'objects', 'uploads');
      mkdirSync(folder, { recursive: true });
      writeFileSync(join(folder, 'crashed'), 'left by a replica that died');
      writeFileSync(join(folder, 'in-flight'), 'another replica is writing this');
      utimesSync(join(folder, 'crashed'), twoHoursAgo(), twoHoursAgo());

      appliance = await appliance.restart();

      expect(uploadsIn(appliance.dataDir)).toEqual(['in-flight']);
    });
  });
});
