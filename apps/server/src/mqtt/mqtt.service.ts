import { mqttRequestIdOf, parseMqttCheck } from '@app/resolver';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { appendFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Counter, Gauge } from 'prom-client';
import { invalidInput } from '../common/domain-error';
import { assertSafeJson, parseSafeJson } from '../common/untrusted-input';
import { AppConfig } from '../config/app-config';
import { DeviceService, parseStatusReport } from '../devices/devices.service';
import type { StatusReportDto } from '../devices/devices.dto';
import { MetricsService } from '../metrics/metrics.service';
import { PackageService } from '../packages/package.service';
import { deviceTopic, MqttBroker, type DeviceMessageKind } from './mqtt-broker';
import { toErrorOffer, type ErrorOffer } from './mqtt-error-mapper';

const TOUCH_FLUSH_MS = 2000;
/** A status report the database refused is retried this many times (1 s, 2 s, 4 s … about 2 minutes in all). */
const STATUS_RETRIES = 7;

/** The answer to a check: what to install, or why there is no answer (an {@link ErrorOffer}). */
export type Offer = { requestId?: string; status: number; components: unknown } | ErrorOffer;

/**
 * The MQTT device channel: runs the embedded broker and answers devices on it. A check gets the
 * same decision as GET /package (one code path: PackageService); a status report is stored like
 * its HTTP twin, and one the broker acknowledged is kept even when the database is briefly down.
 */
@Injectable()
export class MqttService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Mqtt');
  private broker?: MqttBroker;
  private seen = new Map<string, Record<string, string> | undefined>();
  private touchTimer?: NodeJS.Timeout;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readonly refused: Counter<'reason'>;
  private readonly messages: Counter<'kind' | 'result'>;
  private readonly deadLettered: Counter;

  constructor(
    private readonly config: AppConfig,
    private readonly packages: PackageService,
    private readonly devices: DeviceService,
    metrics: MetricsService,
  ) {
    const registers = [metrics.registry];
    this.refused = new Counter({
      name: 'ota_mqtt_refused_total',
      help: 'MQTT clients refused or disconnected, and denied subscriptions, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.messages = new Counter({ name: 'ota_mqtt_device_messages_total', help: 'Device check and status messages by result', labelNames: ['kind', 'result'], registers });
    this.deadLettered = new Counter({
      name: 'ota_mqtt_status_dead_letters_total',
      help: 'Acknowledged status reports that could not be stored and went to the dead-letter log',
      registers,
    });
    const broker = () => this.broker;
    new Gauge({
      name: 'ota_mqtt_connected_clients',
      help: 'MQTT clients connected to this replica',
      registers,
      collect() {
        this.set(broker()?.connectedClients ?? 0);
      },
    });
  }

  async onApplicationBootstrap(): Promise<void> {
    const { config } = this;
    this.broker = await MqttBroker.start(
      {
        host: config.bindAddress,
        tcpPort: config.mqttPort,
        wsPort: config.mqttWsPort,
        tls: config.mqtt.tls,
        maxConnections: config.mqtt.maxConnections,
        maxPacketBytes: config.mqtt.maxPacketBytes,
        maxPublishPerSecond: config.mqtt.maxPublishPerSecond,
        redis: config.redis,
      },
      {
        authenticate: (deviceId, username, password) => this.authenticate(deviceId, username, password),
        deviceMessage: (deviceId, kind, payload) => this.onDeviceMessage(deviceId, kind, payload),
        seen: (deviceId) => this.markSeen(deviceId),
        refused: (reason) => this.refused.inc({ reason }),
      },
    );
    this.touchTimer = setInterval(() => void this.flushSeen(), TOUCH_FLUSH_MS);
    this.touchTimer.unref();
    const { tcp, ws } = this.broker.ports;
    this.logger.log(`MQTT broker on ${config.mqtt.tls ? 'mqtts' : 'mqtt'}://${config.bindAddress}:${tcp} and ws://${config.bindAddress}:${ws}/mqtt`);
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.touchTimer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    await this.broker?.close();
    await this.flushSeen();
  }

  /** The ports actually bound (tests and benchmarks bind port 0). */
  get ports(): { tcp: number; ws: number } {
    if (!this.broker) throw new Error('the MQTT broker is not running');
    return this.broker.ports;
  }

  /** Publishes from the appliance to devices (offers, announcements). */
  publish(topic: string, payload: unknown): Promise<void> {
    if (!this.broker) throw new Error('the MQTT broker is not running');
    return this.broker.publish(topic, JSON.stringify(payload));
  }

  private async authenticate(deviceId: string, username: string | undefined, password: string | undefined): Promise<boolean> {
    if (this.config.deviceAuth === 'none') return true;
    return username === deviceId && (await this.devices.authenticate(deviceId, password));
  }

  private markSeen(deviceId: string, attributes?: Record<string, string>): void {
    const previous = this.seen.get(deviceId);
    this.seen.set(deviceId, attributes ?? previous);
  }

  /** One flush at a time: two overlapping batches would only contend for the same device rows. */
  private flushing: Promise<void> = Promise.resolve();

  private flushSeen(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      const batch = this.seen;
      if (batch.size === 0) return;
      this.seen = new Map();
      try {
        await this.devices.touchMany(batch);
      } catch (error) {
        // Keep what the batch knew (a later check's attributes win): a database hiccup must not lose a device's attributes.
        for (const [deviceId, attributes] of batch) if (this.seen.get(deviceId) === undefined) this.seen.set(deviceId, attributes);
        this.logger.warn(`could not record ${batch.size} devices as seen, will try again: ${String(error)}`);
      }
    });
    return this.flushing;
  }

  private async onDeviceMessage(deviceId: string, kind: DeviceMessageKind, payload: Buffer): Promise<void> {
    try {
      if (kind === 'check') await this.check(deviceId, payload);
      else await this.status(deviceId, payload);
    } catch (error) {
      this.messages.inc({ kind, result: 'error' });
      this.logger.error(`${kind} from ${deviceId} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
  }

  /** Answers a check on the device's offer topic, always: a bad check gets a 4xx offer, a failure a 5xx one, never silence. */
  private async check(deviceId: string, payload: Buffer): Promise<void> {
    const offer = await this.decideOffer(deviceId, payload);
    this.messages.inc({ kind: 'check', result: String(offer.status) });
    await this.publish(deviceTopic(deviceId, 'offer'), offer);
  }

  private async decideOffer(deviceId: string, payload: Buffer): Promise<Offer> {
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return toErrorOffer(invalidInput('the check is not valid JSON'), undefined);
    }
    const requestId = mqttRequestIdOf(body);
    try {
      assertSafeJson(body, this.config.maxJsonDepth, 'the check');
      const request = parseMqttCheck(body, deviceId, this.config.deviceRequestLimits);
      this.markSeen(deviceId, { ...request.attributes });
      const answer = this.packages.decide(request);
      return { requestId: request.requestId, status: answer.decision.status, components: await this.packages.details(answer.decision) };
    } catch (error) {
      const offer = toErrorOffer(error, requestId);
      if (offer.status >= 500) this.logger.error(`check from ${deviceId} failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
      return offer;
    }
  }

  private async status(deviceId: string, payload: Buffer): Promise<void> {
    let report: StatusReportDto;
    try {
      report = parseStatusReport(parseSafeJson(payload.toString('utf8'), this.config.maxJsonDepth, 'the status report'));
    } catch (error) {
      this.messages.inc({ kind: 'status', result: 'invalid' });
      this.logger.warn(`ignored an invalid status report from ${deviceId}: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    this.markSeen(deviceId);
    await this.store(deviceId, report, 0);
  }

  /** Stores a report; on a database failure it retries in the background, and the PUBACK goes out now. */
  private async store(deviceId: string, report: StatusReportDto, attempt: number): Promise<void> {
    const receivedAt = Date.now();
    try {
      await this.devices.recordStatus(deviceId, report, receivedAt);
      this.messages.inc({ kind: 'status', result: attempt === 0 ? 'stored' : 'stored-after-retry' });
    } catch (error) {
      if (attempt >= STATUS_RETRIES) {
        await this.deadLetter(deviceId, report, error);
        return;
      }
      this.logger.warn(`could not store a status report from ${deviceId} (attempt ${attempt + 1}): ${String(error)}; retrying`);
      const timer = setTimeout(
        () => {
          this.retryTimers.delete(timer);
          void this.store(deviceId, report, attempt + 1);
        },
        1000 * 2 ** attempt,
      );
      this.retryTimers.add(timer);
    }
  }

  /** The last resort for an acknowledged report: a JSON line operators can replay through POST /devices/{id}/status. */
  private async deadLetter(deviceId: string, report: StatusReportDto, error: unknown): Promise<void> {
    this.deadLettered.inc();
    const dir = join(this.config.dataDir, 'dead-letter');
    const line = JSON.stringify({ deviceId, report, error: String(error), at: new Date().toISOString() });
    this.logger.error(`status report from ${deviceId} could not be stored; written to ${dir}/status-reports.jsonl`);
    await mkdir(dir, { recursive: true });
    await appendFile(join(dir, 'status-reports.jsonl'), `${line}\n`);
  }
}
