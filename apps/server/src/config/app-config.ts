import { resolve } from 'node:path';
import type { HttpServerSettings } from '../common/http-server';
import { parseEnvironment, type EnvironmentVariables } from './environment';

export type DatabaseSettings = { kind: 'postgres'; url: string } | { kind: 'embedded'; dataDir: string };

export type StorageSettings =
  { kind: 's3'; endpoint: string; accessKey: string; secretKey: string; bucket: string; region: string; partSizeBytes: number } | { kind: 'filesystem'; root: string };

/**
 * The validated configuration, built once at boot. Services receive this object (or a slice of it);
 * none of them reads the environment.
 */
export class AppConfig {
  readonly port: number;
  readonly bindAddress: string;
  readonly http: HttpServerSettings;
  readonly mqttPort: number;
  readonly mqttWsPort: number;
  readonly dataDir: string;
  readonly publicBaseUrl: string;
  readonly adminApiKey?: string;
  readonly database: DatabaseSettings;
  readonly redis?: { url: string; prefix: string };
  readonly storage: StorageSettings;
  readonly cacheTtlSeconds: number;
  readonly maxUploadBytes: number;
  /** Deepest JSON a request body or an MQTT message may be. */
  readonly maxJsonDepth: number;
  readonly storageMinFreeBytes: number;
  readonly uploadOrphanAgeSeconds: number;
  readonly downloadUrls: 'public' | 'presigned';
  readonly presignedUrlTtlSeconds: number;
  readonly packageGzipLevel: number;
  readonly deviceRequestLimits: { maxParameters: number; maxHashes: number };
  readonly packageCacheBytes: number;
  readonly deviceAuth: 'none' | 'token';
  readonly mqtt: {
    tls?: { certFile: string; keyFile: string };
    maxConnections: number;
    maxPacketBytes: number;
    maxPublishPerSecond: number;
  };
  readonly announceMaxPerMinute: number;
  readonly rolloutTickSeconds: number;
  readonly signing: { keyFile: string; trustedPublicKeyFiles: string[] };
  readonly manifestChunkBytes: number;
  readonly peerRosterTtlSeconds: number;
  readonly logLevel: EnvironmentVariables['LOG_LEVEL'];

  constructor(env: EnvironmentVariables) {
    this.port = env.PORT;
    this.bindAddress = env.BIND_ADDRESS;
    this.http = {
      headersTimeoutSeconds: env.HTTP_HEADERS_TIMEOUT_SECONDS,
      requestTimeoutSeconds: env.HTTP_REQUEST_TIMEOUT_SECONDS,
      idleTimeoutSeconds: env.HTTP_IDLE_TIMEOUT_SECONDS,
      keepAliveTimeoutSeconds: env.HTTP_KEEP_ALIVE_TIMEOUT_SECONDS,
      maxHeaderBytes: env.HTTP_MAX_HEADER_BYTES,
    };
    this.mqttPort = env.MQTT_PORT;
    this.mqttWsPort = env.MQTT_WS_PORT;
    this.dataDir = resolve(env.DATA_DIR);
    this.publicBaseUrl = (env.PUBLIC_BASE_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
    this.adminApiKey = env.ADMIN_API_KEY;
    this.database = env.DATABASE_URL ? { kind: 'postgres', url: env.DATABASE_URL } : { kind: 'embedded', dataDir: resolve(this.dataDir, 'pglite') };
    this.redis = env.REDIS_URL ? { url: env.REDIS_URL, prefix: env.REDIS_PREFIX } : undefined;
    this.storage = env.S3_ENDPOINT
      ? {
          kind: 's3',
          endpoint: env.S3_ENDPOINT,
          accessKey: env.S3_ACCESS_KEY!,
          secretKey: env.S3_SECRET_KEY!,
          bucket: env.S3_BUCKET,
          region: env.S3_REGION,
          partSizeBytes: env.S3_PART_SIZE_BYTES,
        }
      : { kind: 'filesystem', root: resolve(this.dataDir, 'objects') };
    this.cacheTtlSeconds = env.CACHE_TTL_SECONDS;
    this.maxUploadBytes = env.MAX_UPLOAD_BYTES;
    this.maxJsonDepth = env.MAX_JSON_DEPTH;
    this.storageMinFreeBytes = env.STORAGE_MIN_FREE_BYTES;
    this.uploadOrphanAgeSeconds = env.UPLOAD_ORPHAN_AGE_SECONDS;
    this.downloadUrls = env.DOWNLOAD_URLS;
    this.presignedUrlTtlSeconds = env.PRESIGNED_URL_TTL_SECONDS;
    this.packageGzipLevel = env.PACKAGE_GZIP_LEVEL;
    this.deviceRequestLimits = { maxParameters: env.PACKAGE_MAX_PARAMETERS, maxHashes: env.PACKAGE_MAX_HASHES };
    this.packageCacheBytes = env.PACKAGE_CACHE_BYTES;
    this.deviceAuth = env.DEVICE_AUTH;
    this.mqtt = {
      tls: env.MQTT_TLS_CERT ? { certFile: resolve(env.MQTT_TLS_CERT), keyFile: resolve(env.MQTT_TLS_KEY!) } : undefined,
      maxConnections: env.MQTT_MAX_CONNECTIONS,
      maxPacketBytes: env.MQTT_MAX_PACKET_BYTES,
      maxPublishPerSecond: env.MQTT_MAX_PUBLISH_PER_SECOND,
    };
    this.announceMaxPerMinute = env.ANNOUNCE_MAX_PER_MINUTE;
    this.rolloutTickSeconds = env.ROLLOUT_TICK_SECONDS;
    this.signing = {
      keyFile: resolve(env.SIGNING_KEY_FILE ?? resolve(this.dataDir, 'signing', 'ed25519.pem')),
      trustedPublicKeyFiles: (env.SIGNING_TRUSTED_KEYS ?? '')
        .split(',')
        .map((file) => file.trim())
        .filter((file) => file.length > 0)
        .map((file) => resolve(file)),
    };
    this.manifestChunkBytes = env.MANIFEST_CHUNK_BYTES;
    this.peerRosterTtlSeconds = env.PEER_ROSTER_TTL_SECONDS;
    this.logLevel = env.LOG_LEVEL;
  }

  static fromEnvironment(env: NodeJS.ProcessEnv = process.env): AppConfig {
    return new AppConfig(parseEnvironment(env));
  }

  /** True when this process owns DATA_DIR exclusively (the embedded database cannot be shared). */
  get usesEmbeddedDatabase(): boolean {
    return this.database.kind === 'embedded';
  }
}
