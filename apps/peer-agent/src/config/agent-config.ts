import { resolve } from 'node:path';
import { Command, CommanderError } from 'commander';

/** A bad option or environment variable; the message names it. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** Test-only fault injection, set through hidden environment variables (never through the CLI). */
export interface TestFaults {
  /** Flip one byte in every chunk this agent sends to a peer (to prove peers are verified and banned). */
  corruptServedChunks: boolean;
}

/** The validated configuration of one agent, built once at boot. Nothing else reads argv or the environment. */
export interface AgentConfig {
  /** Origin base URL without a trailing slash, e.g. `https://ota.example.com`. */
  origin: string;
  site: string;
  cacheDir: string;
  httpHost: string;
  httpPort: number;
  p2pHost: string;
  p2pPort: number;
  /** Multiaddrs (with `/p2p/<peerId>`) dialled at start and probed periodically. */
  bootstrap: string[];
  /** Upload budget to peers in bytes/s across all peers; `undefined` means unlimited. */
  uploadLimit?: number;
  /** Pinned signing keys given by the operator (base64 raw 32 bytes or PEM). Empty: pin from the origin's /keys. */
  trustKeys: string[];
  cacheMaxBytes: number;
  mdns: boolean;
  p2p: boolean;
  roster: boolean;
  /** Base URL devices use to reach this agent; when unset it is derived from each request's Host header. */
  publicUrl?: string;
  /**
   * The agent's identity as a registered device of the origin, for origins with DEVICE_AUTH=token:
   * sent with roster registrations (`deviceId` and `Authorization: Bearer <token>`).
   */
  device?: { id: string; token: string };
  logLevel: LogLevel;
  testFaults: TestFaults;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const DEFAULTS = {
  httpHost: '0.0.0.0',
  httpPort: 8090,
  p2pHost: '0.0.0.0',
  p2pPort: 4010,
  cacheMaxBytes: 10 * 1024 ** 3,
  logLevel: 'info' as LogLevel,
};

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tb: 1024 ** 4,
  tib: 1024 ** 4,
};

/** Parses `1048576`, `512k`, `10MiB`, `2G` (binary units) into bytes. */
export function parseByteSize(value: string, name: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(value);
  const unit = match ? SIZE_UNITS[match[2].toLowerCase()] : undefined;
  if (!match || unit === undefined) {
    throw new ConfigError(`${name} must be a size in bytes such as 1048576, 512k or 10MiB (got "${value}")`);
  }
  const bytes = Math.floor(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes)) throw new ConfigError(`${name} is too large (got "${value}")`);
  return bytes;
}

function parsePort(value: string, name: string): number {
  if (!/^\d+$/.test(value.trim())) throw new ConfigError(`${name} must be a TCP port number 0-65535 (got "${value}")`);
  const port = Number(value);
  if (port > 65535) throw new ConfigError(`${name} must be a TCP port number 0-65535 (got "${value}")`);
  return port;
}

function parseBoolean(value: string, name: string): boolean {
  const v = value.trim().toLowerCase();
  if (['1', 'true', 'yes', 'on'].includes(v)) return true;
  if (['0', 'false', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${name} must be true or false (got "${value}")`);
}

function parseUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} must be an http(s) URL (got "${value}")`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(`${name} must be an http(s) URL (got "${value}")`);
  }
  if (url.search || url.hash) throw new ConfigError(`${name} must not carry a query or fragment (got "${value}")`);
  return url.toString().replace(/\/+$/, '');
}

function parseSite(value: string, name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(value)) {
    throw new ConfigError(`${name} must be 1-64 letters, digits, '.', '_' or '-' (got "${value}")`);
  }
  return value;
}

function parseMultiaddr(value: string, name: string): string {
  // Full validation happens in the libp2p adapter; here we only catch obvious typos early.
  if (!/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+\/p2p\/[1-9A-HJ-NP-Za-km-z]+$/.test(value)) {
    throw new ConfigError(`${name} must look like /ip4/10.0.0.2/tcp/4010/p2p/12D3KooW… (got "${value}")`);
  }
  return value;
}

function parseDeviceId(value: string, name: string): string {
  if (!/^[A-Za-z0-9._:-]{1,128}$/.test(value)) throw new ConfigError(`${name} must be 1-128 letters, digits, '.', '_', ':' or '-' (got "${value}")`);
  return value;
}

function parseLogLevel(value: string, name: string): LogLevel {
  if (!(LOG_LEVELS as readonly string[]).includes(value)) {
    throw new ConfigError(`${name} must be one of ${LOG_LEVELS.join(', ')} (got "${value}")`);
  }
  return value as LogLevel;
}

/**
 * Splits a list of keys given in one variable. PEM blocks contain newlines and no commas, base64 keys
 * contain neither, so commas and blank space between keys both work as separators.
 */
function splitKeys(value: string): string[] {
  const pems = value.match(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g) ?? [];
  const rest = value.replace(/-----BEGIN PUBLIC KEY-----[\s\S]*?-----END PUBLIC KEY-----/g, ' ');
  return [...pems, ...rest.split(/[\s,]+/).filter(Boolean)];
}

function buildCommand(): Command {
  return new Command('peer-agent')
    .description('Gateway-side peer agent of the OTA appliance: serves local devices and shares verified chunks with site peers.')
    .option('--origin <url>', 'origin appliance base URL (env OTA_ORIGIN)')
    .option('--site <id>', 'site id shared by the agents of one site (env OTA_SITE)')
    .option('--cache <dir>', 'cache directory (env OTA_CACHE_DIR)')
    .option('--http-port <port>', `HTTP port for devices, 0 = any free port (env OTA_HTTP_PORT, default ${DEFAULTS.httpPort})`)
    .option('--http-host <host>', `HTTP bind address (env OTA_HTTP_HOST, default ${DEFAULTS.httpHost})`)
    .option('--p2p-port <port>', `libp2p TCP port, 0 = any free port (env OTA_P2P_PORT, default ${DEFAULTS.p2pPort})`)
    .option('--p2p-host <host>', `libp2p bind address (env OTA_P2P_HOST, default ${DEFAULTS.p2pHost})`)
    .option('--bootstrap <multiaddr...>', 'peers to dial at start (env OTA_BOOTSTRAP, comma-separated)')
    .option('--upload-limit <bytes/s>', 'upload budget to peers across all peers, e.g. 10MiB (env OTA_UPLOAD_LIMIT)')
    .option('--trust-key <key...>', 'pinned Ed25519 signing key, base64 raw or PEM (env OTA_TRUST_KEYS)')
    .option('--cache-max-bytes <size>', 'cache size limit, e.g. 20GiB (env OTA_CACHE_MAX_BYTES, default 10GiB)')
    .option('--public-url <url>', "base URL devices use for this agent (env OTA_PUBLIC_URL; default: from the request's Host)")
    .option('--device-id <id>', "this agent's device id at the origin, for DEVICE_AUTH=token (env OTA_DEVICE_ID)")
    .option('--device-token <token>', 'the token of that device (env OTA_DEVICE_TOKEN; prefer the environment: argv is visible to other users)')
    .option('--log-level <level>', `${LOG_LEVELS.join('|')} (env OTA_LOG_LEVEL, default info)`)
    .option('--no-mdns', 'do not discover peers by mDNS (env OTA_MDNS=false)')
    .option('--no-roster', "do not register with the origin's site roster (env OTA_ROSTER=false)")
    .option('--no-p2p', 'fetch everything from the origin, no peers (env OTA_P2P=false)')
    .exitOverride()
    .configureOutput({ writeErr: () => undefined, writeOut: () => undefined })
    .allowExcessArguments(false);
}

export type HelpRequested = { help: string };

/**
 * Builds the config from command-line arguments (without `node script`) and the environment;
 * the command line wins. Throws {@link ConfigError} naming the bad option, or returns
 * `{ help }` when help or the version was asked for.
 */
export function parseConfig(argv: string[], env: NodeJS.ProcessEnv): AgentConfig | HelpRequested {
  const command = buildCommand();
  try {
    command.parse(argv, { from: 'user' });
  } catch (error) {
    if (error instanceof CommanderError) {
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.help') return { help: command.helpInformation() };
      throw new ConfigError(error.message.replace(/^error: /, ''));
    }
    throw error;
  }
  const cli = command.opts<Record<string, string | string[] | boolean | undefined>>();
  const fromCli = (key: string): boolean => command.getOptionValueSource(key) === 'cli';
  const str = (key: string): string | undefined => (typeof cli[key] === 'string' ? (cli[key] as string) : undefined);
  const envStr = (key: string): string | undefined => {
    const v = env[key];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  };
  const pick = <T>(cliKey: string, envKey: string, parse: (v: string, name: string) => T): T | undefined => {
    const c = str(cliKey);
    if (c !== undefined) return parse(c, `--${cliKey.replace(/[A-Z]/g, (m) => '-' + m.toLowerCase())}`);
    const e = envStr(envKey);
    return e !== undefined ? parse(e, envKey) : undefined;
  };
  const flag = (cliKey: string, envKey: string): boolean => {
    if (fromCli(cliKey)) return cli[cliKey] as boolean;
    const e = envStr(envKey);
    return e !== undefined ? parseBoolean(e, envKey) : true;
  };

  const p2p = flag('p2p', 'OTA_P2P');
  const origin = pick('origin', 'OTA_ORIGIN', parseUrl);
  if (!origin) throw new ConfigError('--origin (or OTA_ORIGIN) is required');
  const cacheDir = pick('cache', 'OTA_CACHE_DIR', (v) => resolve(v));
  if (!cacheDir) throw new ConfigError('--cache (or OTA_CACHE_DIR) is required');
  const site = pick('site', 'OTA_SITE', parseSite);
  if (!site && p2p) throw new ConfigError('--site (or OTA_SITE) is required unless --no-p2p is given');

  const bootstrapCli = Array.isArray(cli.bootstrap) ? cli.bootstrap : undefined;
  const bootstrap = bootstrapCli
    ? bootstrapCli
        .flatMap((v) => v.split(','))
        .filter(Boolean)
        .map((v) => parseMultiaddr(v.trim(), '--bootstrap'))
    : (envStr('OTA_BOOTSTRAP') ?? '')
        .split(',')
        .map((v) => v.trim())
        .filter(Boolean)
        .map((v) => parseMultiaddr(v, 'OTA_BOOTSTRAP'));

  const trustCli = Array.isArray(cli.trustKey) ? cli.trustKey : undefined;
  const trustKeys = trustCli ? trustCli.flatMap(splitKeys) : splitKeys(env.OTA_TRUST_KEYS ?? '');

  const deviceId = pick('deviceId', 'OTA_DEVICE_ID', parseDeviceId);
  const deviceToken = pick('deviceToken', 'OTA_DEVICE_TOKEN', (v) => v.trim());
  if ((deviceId === undefined) !== (deviceToken === undefined)) {
    throw new ConfigError('--device-id and --device-token (OTA_DEVICE_ID, OTA_DEVICE_TOKEN) go together');
  }

  const uploadLimit = pick('uploadLimit', 'OTA_UPLOAD_LIMIT', parseByteSize);
  const cacheMaxBytes = pick('cacheMaxBytes', 'OTA_CACHE_MAX_BYTES', parseByteSize) ?? DEFAULTS.cacheMaxBytes;
  if (cacheMaxBytes < 16 * 1024 ** 2) throw new ConfigError('--cache-max-bytes must be at least 16MiB');

  return {
    origin,
    site: site ?? 'default',
    cacheDir,
    httpHost: pick('httpHost', 'OTA_HTTP_HOST', (v) => v) ?? DEFAULTS.httpHost,
    httpPort: pick('httpPort', 'OTA_HTTP_PORT', parsePort) ?? DEFAULTS.httpPort,
    p2pHost: pick('p2pHost', 'OTA_P2P_HOST', (v) => v) ?? DEFAULTS.p2pHost,
    p2pPort: pick('p2pPort', 'OTA_P2P_PORT', parsePort) ?? DEFAULTS.p2pPort,
    bootstrap,
    // 0 means "no limit", like most rate options.
    uploadLimit: uploadLimit ? uploadLimit : undefined,
    trustKeys,
    cacheMaxBytes,
    mdns: flag('mdns', 'OTA_MDNS'),
    roster: flag('roster', 'OTA_ROSTER'),
    p2p,
    publicUrl: pick('publicUrl', 'OTA_PUBLIC_URL', parseUrl),
    device: deviceId !== undefined && deviceToken !== undefined ? { id: deviceId, token: deviceToken } : undefined,
    logLevel: pick('logLevel', 'OTA_LOG_LEVEL', parseLogLevel) ?? DEFAULTS.logLevel,
    testFaults: {
      corruptServedChunks: envStr('OTA_TEST_CORRUPT_SERVED_CHUNKS') ? parseBoolean(envStr('OTA_TEST_CORRUPT_SERVED_CHUNKS')!, 'OTA_TEST_CORRUPT_SERVED_CHUNKS') : false,
    },
  };
}
