import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';
import { createTestDatabase, type TestDatabase } from '@test/support/postgres';
import { freePort } from '@test/support/process';
import { httpRequest, metricValue, scrape } from './http-client';
import { newestSource } from './agents';

const REPO = resolve(__dirname, '../../..');
export const APPLIANCE_MAIN = join(REPO, 'dist/apps/server/src/main.js');
const ADMIN_KEY = 'peer-agent-tests-admin-key-0123456789';

export interface PublishedArtifact {
  sha256: string;
  md5: string;
  size: number;
}

export interface SigningKey {
  keyId: string;
  publicKey: string;
  publicKeyPem: string;
  current: boolean;
}

/**
 * The real appliance (the built apps/server, as a process, on a throwaway PostgreSQL database), as
 * the agents' origin. Everything a test needs from the origin goes through here.
 */
export interface Appliance {
  url: string;
  /** Publishes a file as `component@version` through the admin API. */
  publish(component: string, version: string, file: string): Promise<PublishedArtifact>;
  /** Points a channel at a version (admin API), so that `/package` offers it. */
  setChannel(component: string, channel: string, version: string): Promise<void>;
  /** Registers a device (admin API) and answers its token. */
  registerDevice(id: string): Promise<string>;
  /** The appliance's `ota_artifact_bytes_sent_total`, every route. */
  artifactBytesSent(): Promise<number>;
  keys(): Promise<SigningKey[]>;
  /**
   * Rotates the signing key as an operator would: restarts the appliance (same database, data and
   * port) with a new SIGNING_KEY_FILE and the previous public key in SIGNING_TRUSTED_KEYS.
   */
  rotateKey(): Promise<SigningKey>;
  stop(): Promise<void>;
}

/** Refuses to test a missing or stale appliance build rather than silently testing old code. */
export function assertApplianceBuilt(): void {
  if (!existsSync(APPLIANCE_MAIN)) throw new Error(`${APPLIANCE_MAIN} is missing: run \`node scripts/build.mjs\` (npm test does it)`);
  // Compared with the stamp scripts/build.mjs writes, so that what it considers built is accepted.
  const stamp = join(REPO, 'dist/.build-stamp');
  const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : statSync(APPLIANCE_MAIN).mtimeMs;
  const src = Math.max(newestSource(join(REPO, 'apps/server/src')), newestSource(join(REPO, 'libs')));
  if (src > builtAt) throw new Error('apps/server or libs changed since the last build: run `node scripts/build.mjs`');
}

async function readBody(res: import('node:http').IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of res) parts.push(part as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

function putFile(url: string, file: string): Promise<PublishedArtifact> {
  return new Promise((resolvePut, reject) => {
    const req = request(
      url,
      { method: 'PUT', headers: { 'content-type': 'application/octet-stream', authorization: `Bearer ${ADMIN_KEY}`, 'content-length': statSync(file).size }, agent: false },
      (res) => {
        void readBody(res).then((text) => {
          if ((res.statusCode ?? 0) >= 300) reject(new Error(`PUT ${url}: HTTP ${res.statusCode} ${text}`));
          else resolvePut(JSON.parse(text) as PublishedArtifact);
        }, reject);
      },
    );
    req.on('error', reject);
    createReadStream(file).pipe(req);
  });
}

/** Starts the built appliance on `port` and waits until it listens; its stderr goes to `logFile`. */
async function launch(env: Record<string, string>, logFile: string): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const child = spawn(process.execPath, [APPLIANCE_MAIN], {
    cwd: REPO,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const log = createWriteStream(logFile, { flags: 'a' });
  const exited = new Promise((resolveExit) => child.once('exit', resolveExit));
  let seen = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(() => fail(new Error(`the appliance did not start within 60 s (see ${logFile})`)), 60_000);
    child.stderr!.on('data', (data: Buffer) => {
      log.write(data);
      if (seen.length < 100_000) seen += data.toString();
      if (seen.includes('OTA appliance listening')) {
        clearTimeout(timer);
        ready();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      fail(new Error(`the appliance exited (${String(code)}) before it listened (see ${logFile})`));
    });
  });
  return { child, exited };
}

/** Starts the real appliance for a test file: its own database, data directory and ports. */
export async function startAppliance(workDir: string, options: { rosterTtlSeconds?: number; env?: Record<string, string> } = {}): Promise<Appliance> {
  assertApplianceBuilt();
  const dataDir = join(workDir, 'appliance-data');
  await mkdir(dataDir, { recursive: true });
  const database: TestDatabase = await createTestDatabase();
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const env: Record<string, string> = {
    PORT: String(port),
    BIND_ADDRESS: '127.0.0.1',
    MQTT_PORT: String(await freePort()),
    MQTT_WS_PORT: String(await freePort()),
    PUBLIC_BASE_URL: url,
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    ADMIN_API_KEY: ADMIN_KEY,
    PEER_ROSTER_TTL_SECONDS: String(options.rosterTtlSeconds ?? 60),
    LOG_LEVEL: 'warn',
    ...options.env,
  };
  const logFile = join(workDir, 'appliance.log');
  let running: Awaited<ReturnType<typeof launch>> | undefined;
  try {
    running = await launch(env, logFile);
  } catch (error) {
    await database.drop();
    throw error;
  }
  const stopProcess = async (): Promise<void> => {
    if (!running) return;
    const { child, exited } = running;
    running = undefined;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  const getJson = async <T>(path: string): Promise<T> => JSON.parse(await readBody(await httpRequest(`${url}${path}`))) as T;
  const appliance: Appliance = {
    url,
    publish: (component, version, file) => putFile(`${url}/api/v1/components/${encodeURIComponent(component)}/versions/${encodeURIComponent(version)}`, file),
    async setChannel(component, channel, version) {
      const res = await httpRequest(`${url}/api/v1/components/${encodeURIComponent(component)}/channels/${encodeURIComponent(channel)}`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
        body: JSON.stringify({ version, attributes: [] }),
      });
      const text = await readBody(res);
      if ((res.statusCode ?? 0) >= 300) throw new Error(`PUT channel ${component}/${channel}: HTTP ${res.statusCode} ${text}`);
    },
    async registerDevice(id) {
      const res = await httpRequest(`${url}/api/v1/devices`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_KEY}` },
        body: JSON.stringify({ id }),
      });
      const text = await readBody(res);
      if (res.statusCode !== 201) throw new Error(`POST /api/v1/devices: HTTP ${res.statusCode} ${text}`);
      return (JSON.parse(text) as { token: string }).token;
    },
    artifactBytesSent: async () => metricValue(await scrape(url), 'ota_artifact_bytes_sent_total'),
    keys: async () => (await getJson<{ keys: SigningKey[] }>('/keys')).keys,
    async rotateKey() {
      const previous = (await appliance.keys()).find((key) => key.current)!;
      const rotation = join(workDir, `rotation-${Date.now()}`);
      await mkdir(rotation, { recursive: true });
      const keyFile = join(rotation, 'ed25519.pem');
      const previousFile = join(rotation, 'previous.pub.pem');
      await writeFile(keyFile, generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
      await writeFile(previousFile, previous.publicKeyPem);
      env.SIGNING_KEY_FILE = keyFile;
      env.SIGNING_TRUSTED_KEYS = previousFile;
      await stopProcess();
      running = await launch(env, logFile);
      return (await appliance.keys()).find((key) => key.current)!;
    },
    async stop() {
      await stopProcess();
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return appliance;
}
