import type { NestExpressApplication } from '@nestjs/platform-express';
import type { AddressInfo } from 'node:net';
import { startApp } from '../../apps/server/src/bootstrap';
import { AppConfig } from '../../apps/server/src/config/app-config';
import { createTestDatabase } from './postgres';
import { startTestS3 } from './s3';
import { makeTempDir } from './temp-dir';

export const TEST_ADMIN_KEY = 'test-admin-key-0123456789';

/** Every listener on a free port: Mosquitto holds 1883 on these machines, and suites run in parallel. */
const BASE_ENV = { PORT: '0', MQTT_PORT: '0', MQTT_WS_PORT: '0', BIND_ADDRESS: '127.0.0.1', ADMIN_API_KEY: TEST_ADMIN_KEY, LOG_LEVEL: 'silent' };

export interface TestAppOptions {
  database?: 'postgres' | 'embedded';
  storage?: 'filesystem' | 's3';
  env?: Record<string, string>;
  /** Another replica: share its database, object store and DATA_DIR (disposed with that one). */
  replicaOf?: TestApp;
}

export interface TestApp {
  app: NestExpressApplication;
  url: string;
  config: AppConfig;
  dataDir: string;
  env: Record<string, string>;
  /** Stops the app; the database, bucket and DATA_DIR stay until dispose(). */
  stop(): Promise<void>;
  /** Starts the appliance again on the same database, storage and DATA_DIR. */
  restart(): Promise<TestApp>;
  dispose(): Promise<void>;
}

/**
 * Starts a real appliance in this process on a free port, with its own database (a throwaway
 * PostgreSQL database or embedded PGlite), its own object store (a folder or s3rver) and DATA_DIR.
 */
export async function startTestApp(options: TestAppOptions = {}): Promise<TestApp> {
  const cleanups: (() => Promise<void> | void)[] = [];
  if (options.replicaOf) {
    const shared = Object.fromEntries(
      Object.entries(options.replicaOf.env).filter(([name]) => name === 'DATA_DIR' || name === 'DATABASE_URL' || name.startsWith('S3_') || name.startsWith('REDIS')),
    );
    return launchTestApp({ ...BASE_ENV, ...shared, ...options.env }, cleanups);
  }
  const dataDir = makeTempDir();
  cleanups.push(() => dataDir.remove());
  const env: Record<string, string> = { ...BASE_ENV, DATA_DIR: dataDir.path };
  if ((options.database ?? 'postgres') === 'postgres') {
    const database = await createTestDatabase();
    cleanups.push(() => database.drop());
    env.DATABASE_URL = database.url;
  }
  if (options.storage === 's3') {
    const s3 = await startTestS3();
    cleanups.push(() => s3.stop());
    Object.assign(env, { S3_ENDPOINT: s3.endpoint, S3_ACCESS_KEY: s3.accessKey, S3_SECRET_KEY: s3.secretKey, S3_BUCKET: 'ota-test' });
  }
  Object.assign(env, options.env);
  return launchTestApp(env, cleanups);
}

async function launchTestApp(env: Record<string, string>, cleanups: (() => Promise<void> | void)[]): Promise<TestApp> {
  const launch = async (): Promise<TestApp> => {
    const config = AppConfig.fromEnvironment(env);
    const app = await startApp(config);
    const port = (app.getHttpServer().address() as AddressInfo).port;
    const url = `http://127.0.0.1:${port}`;
    let stopped = false;
    const stop = async () => {
      if (stopped) return;
      stopped = true;
      await app.close();
    };
    return {
      app,
      url,
      config,
      dataDir: env.DATA_DIR,
      env,
      stop,
      restart: async () => {
        await stop();
        return launch();
      },
      dispose: async () => {
        await stop();
        for (const cleanup of cleanups.reverse()) await cleanup();
      },
    };
  };
  try {
    return await launch();
  } catch (error) {
    for (const cleanup of cleanups.reverse()) await cleanup();
    throw error;
  }
}

export function adminHeaders(key = TEST_ADMIN_KEY): Record<string, string> {
  return { authorization: `Bearer ${key}` };
}
