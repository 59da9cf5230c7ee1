import 'reflect-metadata';
import { Transform, plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, IsUrl, Matches, Max, Min, MinLength, ValidateIf, validateSync, type ValidationError } from 'class-validator';

/** Every variable the appliance reads, with its description, for the docs and deployment checks. */
export interface VariableDoc {
  name: string;
  description: string;
  default?: string;
  secret?: boolean;
}

const variableDocs: VariableDoc[] = [];

function Env(description: string, options: { default?: string; secret?: boolean } = {}): PropertyDecorator {
  return (_target, key) => {
    variableDocs.push({ name: String(key), description, ...options });
  };
}

const toInt = ({ value }: { value: unknown }) => (typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value.trim()) : value);
const emptyToUndefined = ({ value }: { value: unknown }) => (typeof value === 'string' && value.trim() === '' ? undefined : value);

/**
 * The environment as the appliance understands it. Nothing outside this folder reads process.env:
 * everything gets an {@link AppConfig} built from this once at boot.
 */
export class EnvironmentVariables {
  @Env('HTTP port of the device and admin API', { default: '8080' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  PORT: number = 8080;

  @Env('Address the HTTP and MQTT listeners bind to', { default: '0.0.0.0' })
  @IsString()
  BIND_ADDRESS: string = '0.0.0.0';

  @Env('Seconds a client has to send the request line and headers (a slow sender is answered 408)', { default: '60' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  HTTP_HEADERS_TIMEOUT_SECONDS: number = 60;

  @Env(
    'Seconds a client has to send a whole request, body included; 0: no limit, so a slow multi-GB upload is not cut while it flows (HTTP_IDLE_TIMEOUT_SECONDS still cuts a stalled one)',
    { default: '0' },
  )
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(7 * 24 * 3600)
  HTTP_REQUEST_TIMEOUT_SECONDS: number = 0;

  @Env(
    'Seconds a connection may carry nothing while the appliance waits for the client (a stalled upload or a download nobody reads); not counted while the appliance works on a received request',
    { default: '120' },
  )
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  HTTP_IDLE_TIMEOUT_SECONDS: number = 120;

  @Env('Seconds an idle keep-alive connection stays open between requests; longer than the 60 s of nginx upstream keepalive and AWS ALB, so the proxy closes first', {
    default: '65',
  })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(3600)
  HTTP_KEEP_ALIVE_TIMEOUT_SECONDS: number = 65;

  @Env('Largest request line plus headers, in bytes (larger: 431); an If-None-Match of PACKAGE_MAX_HASHES hashes takes about 67 bytes each', { default: '16384' })
  @Transform(toInt)
  @IsInt()
  @Min(4096)
  @Max(1024 * 1024)
  HTTP_MAX_HEADER_BYTES: number = 16 * 1024;

  @Env('MQTT over TCP port of the embedded broker', { default: '1883' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  MQTT_PORT: number = 1883;

  @Env('MQTT over WebSocket port (path /mqtt)', { default: '8083' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(65535)
  MQTT_WS_PORT: number = 8083;

  @Env('Folder for the embedded database, the filesystem object store and the signing key', { default: './data' })
  @IsString()
  @MinLength(1)
  DATA_DIR: string = './data';

  @Env('Base URL devices reach the appliance at; offer URLs start with it', { default: 'http://localhost:<PORT>' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  PUBLIC_BASE_URL?: string;

  @Env('Admin API key seeded with admin scope (at least 16 characters); unset: one is generated at first start', { secret: true })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  @MinLength(16)
  ADMIN_API_KEY?: string;

  @Env('PostgreSQL URL; unset: embedded PostgreSQL (PGlite) under DATA_DIR', { secret: true })
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^postgres(ql)?:\/\//, { message: 'DATABASE_URL must start with postgres:// or postgresql://' })
  DATABASE_URL?: string;

  @Env('Redis URL; unset: in-process scheduler and a single broker', { secret: true })
  @Transform(emptyToUndefined)
  @IsOptional()
  @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must start with redis:// or rediss://' })
  REDIS_URL?: string;

  @Env('Prefix of every Redis key the appliance writes', { default: 'ota' })
  @IsString()
  @Matches(/^[A-Za-z0-9:_-]{1,64}$/, { message: 'REDIS_PREFIX must be 1-64 letters, digits, ":", "_" or "-"' })
  REDIS_PREFIX: string = 'ota';

  @Env('S3/MinIO endpoint URL; unset: filesystem object store under DATA_DIR')
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsUrl({ require_tld: false, protocols: ['http', 'https'], require_protocol: true })
  S3_ENDPOINT?: string;

  @Env('S3 access key', { secret: true })
  @Transform(emptyToUndefined)
  @ValidateIf((env: EnvironmentVariables) => env.S3_ENDPOINT !== undefined)
  @IsString({ message: 'S3_ACCESS_KEY is required when S3_ENDPOINT is set' })
  S3_ACCESS_KEY?: string;

  @Env('S3 secret key', { secret: true })
  @Transform(emptyToUndefined)
  @ValidateIf((env: EnvironmentVariables) => env.S3_ENDPOINT !== undefined)
  @IsString({ message: 'S3_SECRET_KEY is required when S3_ENDPOINT is set' })
  S3_SECRET_KEY?: string;

  @Env('S3 bucket for artifacts (created at start when missing)', { default: 'ota-artifacts' })
  @Matches(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, { message: 'S3_BUCKET must be a valid bucket name' })
  S3_BUCKET: string = 'ota-artifacts';

  @Env('S3 region', { default: 'us-east-1' })
  @IsString()
  S3_REGION: string = 'us-east-1';

  @Env('S3 multipart part size in bytes: the memory one upload holds; 10,000 parts make the largest object', { default: '16777216' })
  @Transform(toInt)
  @IsInt()
  @Min(5 * 1024 * 1024)
  @Max(5 * 1024 ** 3)
  S3_PART_SIZE_BYTES: number = 16 * 1024 * 1024;

  @Env('max-age of GET /package answers, in seconds', { default: '100' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(31536000)
  CACHE_TTL_SECONDS: number = 100;

  @Env('Offer URLs: public (PUBLIC_BASE_URL/artifacts/<sha256>) or presigned (time-limited S3 URLs; needs S3_ENDPOINT)', { default: 'public' })
  @IsIn(['public', 'presigned'])
  DOWNLOAD_URLS: 'public' | 'presigned' = 'public';

  @Env('Lifetime of presigned offer URLs, in seconds (at least twice CACHE_TTL_SECONDS)', { default: '3600' })
  @Transform(toInt)
  @IsInt()
  @Min(60)
  @Max(7 * 24 * 3600)
  PRESIGNED_URL_TTL_SECONDS: number = 3600;

  @Env('gzip level of full package payloads, 0-9; 0 stores without compressing (about 1 GB/s; level 1 manages 45 MB/s on already-compressed firmware)', { default: '0' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  @Max(9)
  PACKAGE_GZIP_LEVEL: number = 0;

  @Env('Most query parameters a GET /package may carry', { default: '64' })
  @Transform(toInt)
  @IsInt()
  @Min(4)
  @Max(1000)
  PACKAGE_MAX_PARAMETERS: number = 64;

  @Env('Most hashes an If-None-Match (or an MQTT check) may carry', { default: '64' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(1000)
  PACKAGE_MAX_HASHES: number = 64;

  @Env('Memory for encoded GET /package answers, in bytes, reused until the catalog changes (identical checks skip the decision); 0 turns the cache off', { default: '16777216' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  PACKAGE_CACHE_BYTES: number = 16 * 1024 ** 2;

  @Env('Largest accepted upload, in bytes', { default: '4294967296' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MAX_UPLOAD_BYTES: number = 4 * 1024 ** 3;

  @Env('Deepest JSON (objects and arrays nested) accepted in a request body or an MQTT message; deeper is refused with 400', { default: '32' })
  @Transform(toInt)
  @IsInt()
  @Min(4)
  @Max(256)
  MAX_JSON_DEPTH: number = 32;

  @Env('Free bytes DATA_DIR must keep (filesystem store, embedded database): below it /readyz answers 503 and uploads 507; 0 turns the floor off', { default: '268435456' })
  @Transform(toInt)
  @IsInt()
  @Min(0)
  STORAGE_MIN_FREE_BYTES: number = 256 * 1024 ** 2;

  @Env('Age in seconds after which a temporary upload that another replica could still own is removed at start (S3, or a DATA_DIR shared without the lock)', {
    default: '86400',
  })
  @Transform(toInt)
  @IsInt()
  @Min(60)
  UPLOAD_ORPHAN_AGE_SECONDS: number = 24 * 60 * 60;

  @Env('PEM certificate (chain) file for MQTT over TLS; with MQTT_TLS_KEY, the TCP listener speaks TLS')
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  MQTT_TLS_CERT?: string;

  @Env('PEM private key file for MQTT over TLS', { secret: true })
  @Transform(emptyToUndefined)
  @ValidateIf((env: EnvironmentVariables) => env.MQTT_TLS_CERT !== undefined)
  @IsString({ message: 'MQTT_TLS_KEY is required when MQTT_TLS_CERT is set' })
  MQTT_TLS_KEY?: string;

  @Env('Most MQTT clients connected at once to this replica; more are refused', { default: '50000' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MQTT_MAX_CONNECTIONS: number = 50_000;

  @Env('Largest MQTT packet accepted, in bytes; a client sending a larger one is disconnected', { default: '262144' })
  @Transform(toInt)
  @IsInt()
  @Min(1024)
  @Max(268_435_455)
  MQTT_MAX_PACKET_BYTES: number = 256 * 1024;

  @Env('Most messages one MQTT client may publish per second (burst of twice that); a client over it is disconnected', { default: '10' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  MQTT_MAX_PUBLISH_PER_SECOND: number = 10;

  @Env('Most announcements published on ota/v1/announce per minute', { default: '60' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  ANNOUNCE_MAX_PER_MINUTE: number = 60;

  @Env('Seconds between two evaluations of a running rollout', { default: '30' })
  @Transform(toInt)
  @IsInt()
  @Min(1)
  @Max(86_400)
  ROLLOUT_TICK_SECONDS: number = 30;

  @Env('Ed25519 private key (PEM, PKCS#8) that signs manifests; generated there on first start when missing', { default: '<DATA_DIR>/signing/ed25519.pem' })
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  SIGNING_KEY_FILE?: string;

  @Env('Comma-separated PEM files of further Ed25519 public keys still listed as active in GET /keys (key rotation)')
  @Transform(emptyToUndefined)
  @IsOptional()
  @IsString()
  SIGNING_TRUSTED_KEYS?: string;

  @Env('Chunk size of signed manifests, in bytes (applies to uploads from then on)', { default: '1048576' })
  @Transform(toInt)
  @IsInt()
  @Min(64 * 1024)
  @Max(16 * 1024 * 1024)
  MANIFEST_CHUNK_BYTES: number = 1024 * 1024;

  @Env('Seconds a peer agent stays in its site roster after registering', { default: '60' })
  @Transform(toInt)
  @IsInt()
  @Min(5)
  @Max(3600)
  PEER_ROSTER_TTL_SECONDS: number = 60;

  @Env('Device authentication: none (any device id) or token (registered devices with their token)', { default: 'none' })
  @IsIn(['none', 'token'])
  DEVICE_AUTH: 'none' | 'token' = 'none';

  @Env('Log level: fatal, error, warn, info, debug, trace or silent', { default: 'info' })
  @IsIn(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
  LOG_LEVEL: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent' = 'info';
}

/** The documented variables, in declaration order. */
export function describeVariables(): readonly VariableDoc[] {
  return variableDocs;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function flatten(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => {
    const messages = Object.values(error.constraints ?? {});
    const shown = typeof error.value === 'string' ? ` (got "${error.value}")` : '';
    return messages.map((message) => `${error.property}: ${message}${error.property.includes('KEY') || error.property.endsWith('_URL') ? '' : shown}`);
  });
}

/** Parses and validates the environment; throws a {@link ConfigError} naming every bad variable. */
export function parseEnvironment(env: NodeJS.ProcessEnv): EnvironmentVariables {
  const known = Object.fromEntries(variableDocs.map((doc) => [doc.name, env[doc.name]]).filter(([, value]) => value !== undefined));
  const parsed = plainToInstance(EnvironmentVariables, known, { exposeDefaultValues: true });
  const errors = validateSync(parsed, { whitelist: false, forbidUnknownValues: true });
  if (errors.length > 0) throw new ConfigError(flatten(errors));
  if (parsed.S3_ENDPOINT && parsed.MAX_UPLOAD_BYTES > parsed.S3_PART_SIZE_BYTES * 10_000) {
    throw new ConfigError([
      `MAX_UPLOAD_BYTES (${parsed.MAX_UPLOAD_BYTES}) is more than S3 can take in 10,000 parts of S3_PART_SIZE_BYTES (${parsed.S3_PART_SIZE_BYTES}): raise S3_PART_SIZE_BYTES`,
    ]);
  }
  if (parsed.HTTP_REQUEST_TIMEOUT_SECONDS > 0 && parsed.HTTP_REQUEST_TIMEOUT_SECONDS < parsed.HTTP_HEADERS_TIMEOUT_SECONDS) {
    throw new ConfigError(['HTTP_REQUEST_TIMEOUT_SECONDS: must be 0 (no limit) or at least HTTP_HEADERS_TIMEOUT_SECONDS, since the headers are part of the request']);
  }
  if (parsed.DOWNLOAD_URLS === 'presigned' && !parsed.S3_ENDPOINT) {
    throw new ConfigError(['DOWNLOAD_URLS: presigned URLs need the S3 object store (set S3_ENDPOINT) or use public']);
  }
  if (parsed.DOWNLOAD_URLS === 'presigned' && parsed.PRESIGNED_URL_TTL_SECONDS < 2 * parsed.CACHE_TTL_SECONDS) {
    throw new ConfigError(['PRESIGNED_URL_TTL_SECONDS: must be at least twice CACHE_TTL_SECONDS, or cached offers would hold expired URLs']);
  }
  return parsed;
}
