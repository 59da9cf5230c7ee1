import { createHash, randomBytes } from 'node:crypto';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { getJson, scrape, metricValue, type Sample } from './http-client';
import { spawnReady, type ReadyProcess } from './processes';

const REPO = resolve(__dirname, '../../..');
export const AGENT_MAIN = join(REPO, 'dist/apps/peer-agent/src/main.js');

export function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (!/\.(spec|int-spec|e2e-spec)\.ts$/.test(entry.name)) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

/**
 * Integration tests run the BUILT agent (libp2p is ESM-only and jest cannot load it). Refuse to
 * test a missing or stale build rather than silently testing old code.
 */
export function assertAgentBuilt(): void {
  if (!existsSync(AGENT_MAIN)) throw new Error(`${AGENT_MAIN} is missing: run \`node scripts/build.mjs\` (npm test does it)`);
  const src = newestSource(join(REPO, 'apps/peer-agent/src'));
  if (src > statSync(AGENT_MAIN).mtimeMs) throw new Error('apps/peer-agent/src changed since the last build: run `node scripts/build.mjs`');
}

export interface AgentReady {
  httpUrl: string;
  peerId: string | null;
  addrs: string[];
}

export interface AgentOptions {
  origin: string;
  site: string;
  cacheDir: string;
  logFile: string;
  mdns?: boolean;
  roster?: boolean;
  p2p?: boolean;
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

export interface AgentHandle {
  httpUrl: string;
  peerId: string | null;
  /** The agent's libp2p addresses from its ready line. */
  addrs: string[];
  options: AgentOptions;
  proc: ReadyProcess<AgentReady>['proc'];
  exited: Promise<number | string | null>;
  metrics(): Promise<Sample[]>;
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  health(): Promise<{ peers: string[]; bannedPeers: number; peerId?: string }>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGKILL (a crash) and wait. */
  kill(): Promise<void>;
}

/** Starts a built agent on 127.0.0.1 with free ports, mDNS off unless asked. */
export async function startAgentProcess(options: AgentOptions): Promise<AgentHandle> {
  const args = [
    AGENT_MAIN,
    '--origin',
    options.origin,
    '--site',
    options.site,
    '--cache',
    options.cacheDir,
    '--http-host',
    '127.0.0.1',
    '--http-port',
    '0',
    '--p2p-host',
    '127.0.0.1',
    '--p2p-port',
    '0',
    '--log-level',
    'debug',
    ...(options.mdns ? [] : ['--no-mdns']),
    ...(options.roster === false ? ['--no-roster'] : []),
    ...(options.p2p === false ? ['--no-p2p'] : []),
    ...(options.extraArgs ?? []),
  ];
  const child = await spawnReady<AgentReady>(args, { env: options.env, logFile: options.logFile });
  const { httpUrl, peerId, addrs } = child.ready;
  return {
    httpUrl,
    peerId,
    addrs,
    options,
    proc: child.proc,
    exited: child.exited,
    metrics: () => scrape(httpUrl),
    metric: async (name, labels) => metricValue(await scrape(httpUrl), name, labels),
    health: async () => (await getJson<{ peers: string[]; bannedPeers: number; peerId?: string }>(`${httpUrl}/healthz`)).body,
    stop: async () => {
      child.proc.kill('SIGTERM');
      await child.exited;
    },
    kill: async () => {
      child.proc.kill('SIGKILL');
      await child.exited;
    },
  };
}

/** A temp directory per test file, removed at the end (kept with OTA_TEST_KEEP_WORKDIR=1, to read the agents' logs). */
export async function makeWorkDir(name: string): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), `peer-agent-${name}-`));
  const keep = process.env.OTA_TEST_KEEP_WORKDIR === '1';
  return { dir, cleanup: () => (keep ? Promise.resolve() : rm(dir, { recursive: true, force: true })) };
}

/** Writes `size` random bytes to `path` (1 MiB at a time) and returns its SHA-256. */
export async function writeRandomFile(path: string, size: number): Promise<string> {
  const hash = createHash('sha256');
  const file = await open(path, 'w');
  try {
    for (let written = 0; written < size;) {
      const part = randomBytes(Math.min(1024 * 1024, size - written));
      hash.update(part);
      await file.write(part);
      written += part.length;
    }
  } finally {
    await file.close();
  }
  return hash.digest('hex');
}

export const MiB = 1024 * 1024;
