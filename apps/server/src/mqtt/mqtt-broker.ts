import { Aedes, type AedesOptions, type Client } from 'aedes';
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { Duplex, pipeline } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { PacketSizeGuard, PacketTooLargeError } from './packet-size-guard';
import { createPrefixedRedisEmitter } from './redis-mq';
import { TokenBucket } from './token-bucket';

export const ANNOUNCE_TOPIC = 'ota/v1/announce';
export const deviceTopic = (deviceId: string, leaf: 'check' | 'status' | 'offer') => `ota/v1/devices/${deviceId}/${leaf}`;
/** Client ids become topic levels: no `/`, `+` or `#`, as device ids everywhere else. */
const CLIENT_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
const DEVICE_TOPIC = /^ota\/v1\/devices\/([^/]+)\/(check|status)$/;
/** A connected device that only pings is reported as seen again at most this often. */
const SEEN_REFRESH_MS = 5 * 60_000;

export interface BrokerSettings {
  host: string;
  tcpPort: number;
  wsPort: number;
  tls?: { certFile: string; keyFile: string };
  maxConnections: number;
  maxPacketBytes: number;
  maxPublishPerSecond: number;
  redis?: { url: string; prefix: string };
}

export type DeviceMessageKind = 'check' | 'status';

export interface BrokerHooks {
  /** Whether a device may connect with these credentials (its client id is already validated). */
  authenticate(deviceId: string, username: string | undefined, password: string | undefined): Promise<boolean>;
  /** A device published on its own check or status topic. For QoS 1 the PUBACK waits for this. */
  deviceMessage(deviceId: string, kind: DeviceMessageKind, payload: Buffer): Promise<void>;
  /** A device connected, or is still connected (keep-alive pings, reported at most every SEEN_REFRESH_MS). */
  seen(deviceId: string): void;
  /** A client was cut off or refused; `reason` is a short label for metrics. */
  refused(reason: 'auth' | 'client-id' | 'max-connections' | 'publish-denied' | 'rate-limit' | 'packet-too-large' | 'subscribe-denied'): void;
}

type AuthError = Error & { returnCode: number };

function authError(message: string, returnCode: number): AuthError {
  return Object.assign(new Error(message), { returnCode });
}

/**
 * The embedded MQTT broker (Aedes): TCP or TLS on one port, WebSocket at /mqtt on another,
 * device ACLs, packet-size and publish-rate limits, and, with Redis, subscriptions and sessions
 * shared by every replica. The only module that knows Aedes.
 */
export class MqttBroker {
  private tcp?: NetServer;
  private http?: HttpServer;
  private ws?: WebSocketServer;
  private readonly rates = new WeakMap<Client, TokenBucket>();
  /** The client id each connection sent: Aedes replaces an empty one with `aedes_<uuid>` before any other hook. */
  private readonly requestedIds = new WeakMap<Client, string>();
  private readonly lastSeen = new WeakMap<Client, number>();
  private readonly redisConnections: { quit(): Promise<unknown> }[] = [];
  private aedes!: Aedes;

  private constructor(
    private readonly settings: BrokerSettings,
    private readonly hooks: BrokerHooks,
  ) {}

  static async start(settings: BrokerSettings, hooks: BrokerHooks): Promise<MqttBroker> {
    const broker = new MqttBroker(settings, hooks);
    const options: AedesOptions = { maxClientsIdLength: 128, connectTimeout: 10_000, ...broker.handlers() };
    if (settings.redis) {
      const mq = createPrefixedRedisEmitter(settings.redis.url, settings.redis.prefix);
      const conn = new Redis(settings.redis.url, { keyPrefix: `${settings.redis.prefix}:mqtt:` });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const persistence = require('aedes-persistence-redis')({ conn });
      Object.assign(options, { mq, persistence });
      broker.redisConnections.push(conn, { quit: () => new Promise((resolve) => mq.close(() => resolve(undefined))) });
    }
    broker.aedes = await Aedes.createBroker(options);
    broker.aedes.on('clientReady', (client) => broker.reportSeen(client));
    broker.aedes.on('ping', (_packet, client) => {
      if (Date.now() - (broker.lastSeen.get(client) ?? 0) >= SEEN_REFRESH_MS) broker.reportSeen(client);
    });
    await broker.listen();
    return broker;
  }

  private handlers(): Partial<AedesOptions> {
    const { settings, hooks } = this;
    return {
      preConnect: (client, packet, callback) => {
        this.requestedIds.set(client, packet.clientId);
        if (this.aedes.connectedClients >= settings.maxConnections) {
          hooks.refused('max-connections');
          callback(null, false);
          return;
        }
        callback(null, true);
      },
      authenticate: (client, username, password, callback) => {
        // An empty id is refused too (MQTT-3.1.3-8 for persistent sessions; always, here): it cannot name a device.
        if (!CLIENT_ID_PATTERN.test(this.requestedIds.get(client) ?? '')) {
          hooks.refused('client-id');
          callback(authError('client id must be a device id: 1-128 letters, digits, ".", "_", ":" or "-"', 2), false);
          return;
        }
        hooks.authenticate(client.id, username ?? undefined, password?.toString('utf8')).then(
          (ok) => {
            if (!ok) hooks.refused('auth');
            callback(ok ? null : authError('unknown device or wrong token', 4), ok);
          },
          () => callback(authError('authentication is unavailable', 3), false),
        );
      },
      authorizePublish: (client, packet, callback) => {
        // The appliance publishes through the broker in-process (no client): offers and announcements.
        if (!client) return callback(null);
        const match = DEVICE_TOPIC.exec(packet.topic);
        if (!match || match[1] !== client.id) {
          hooks.refused('publish-denied');
          return callback(new Error(`${client.id} may not publish to ${packet.topic}`));
        }
        // Nobody may subscribe to a device's check or status topic, so a retained copy could never be
        // delivered: the message is handled like any other and not kept.
        packet.retain = false;
        let bucket = this.rates.get(client);
        if (!bucket) this.rates.set(client, (bucket = new TokenBucket(settings.maxPublishPerSecond, 2 * settings.maxPublishPerSecond)));
        if (!bucket.take()) {
          hooks.refused('rate-limit');
          return callback(new Error(`${client.id} publishes faster than ${settings.maxPublishPerSecond} messages per second`));
        }
        callback(null);
      },
      authorizeSubscribe: (client, subscription, callback) => {
        if (subscription.topic === deviceTopic(client.id, 'offer') || subscription.topic === ANNOUNCE_TOPIC) {
          callback(null, subscription);
          return;
        }
        hooks.refused('subscribe-denied');
        // A null subscription makes Aedes answer SUBACK 128 (failure) for it.
        callback(null, null);
      },
      published: (packet, client, callback) => {
        if (!client) return callback();
        const match = DEVICE_TOPIC.exec(packet.topic);
        if (!match) return callback();
        const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
        hooks.deviceMessage(client.id, match[2] as DeviceMessageKind, payload).then(
          () => callback(),
          () => callback(),
        );
      },
    };
  }

  private reportSeen(client: Client): void {
    this.lastSeen.set(client, Date.now());
    this.hooks.seen(client.id);
  }

  /** Hands a connection to the broker with its inbound bytes going through the packet-size guard. */
  private accept(stream: Duplex, request?: IncomingMessage): void {
    const guard = new PacketSizeGuard(this.settings.maxPacketBytes);
    pipeline(stream, guard, (error) => {
      if (error instanceof PacketTooLargeError) this.hooks.refused('packet-too-large');
    });
    this.aedes.handle(Duplex.from({ readable: guard, writable: stream }), request);
  }

  private async listen(): Promise<void> {
    const { settings } = this;
    const onConnection = (socket: Socket) => this.accept(socket);
    this.tcp = settings.tls ? createTlsServer({ cert: readFileSync(settings.tls.certFile), key: readFileSync(settings.tls.keyFile) }, onConnection) : createNetServer(onConnection);
    await listenOn(this.tcp, settings.tcpPort, settings.host);

    this.http = createHttpServer((_request, response) => {
      response.writeHead(426, { 'Content-Type': 'text/plain' }).end('MQTT over WebSocket: connect to /mqtt\n');
    });
    this.ws = new WebSocketServer({ server: this.http, path: '/mqtt', maxPayload: settings.maxPacketBytes * 2 });
    this.ws.on('connection', (socket, request) => this.accept(createWebSocketStream(socket), request));
    await listenOn(this.http, settings.wsPort, settings.host);
  }

  get ports(): { tcp: number; ws: number } {
    return { tcp: (this.tcp!.address() as AddressInfo).port, ws: (this.http!.address() as AddressInfo).port };
  }

  get connectedClients(): number {
    return this.aedes.connectedClients;
  }

  /** Publishes from the appliance itself (QoS 1), through the shared emitter when there is Redis. */
  publish(topic: string, payload: string | Buffer, qos: 0 | 1 = 1): Promise<void> {
    return new Promise((resolve, reject) =>
      this.aedes.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, (error?: Error | null) => (error ? reject(error) : resolve())),
    );
  }

  async close(): Promise<void> {
    this.ws?.clients.forEach((socket) => socket.terminate());
    await Promise.all([closeServer(this.tcp), closeServer(this.http)]);
    await new Promise<void>((resolve) => this.aedes.close(() => resolve()));
    await Promise.all(this.redisConnections.map((connection) => connection.quit().catch(() => undefined)));
  }
}

function listenOn(server: NetServer | HttpServer, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

function closeServer(server: NetServer | HttpServer | undefined): Promise<void> {
  if (!server?.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}
