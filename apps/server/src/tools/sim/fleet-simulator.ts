import { cohortOf } from '@app/resolver';
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import mqtt, { type MqttClient } from 'mqtt';

/** How a simulated fleet behaves; see `npm run sim -- --help`. */
export interface FleetOptions {
  devices: number;
  mqttUrl?: string;
  /** Base URL for HTTP checks (without MQTT) and for downloads instead of the offers' own origin. */
  httpUrl?: string;
  /** New device connections (and initial checks) per second across the fleet. */
  rate: number;
  attributes: Record<string, string>;
  /** Share of devices (0..1, chosen by device id) whose installs fail. */
  failRate: number;
  idPrefix: string;
  /** Verify downloads (SHA-256 of the whole binary against the offer); false skips downloading. */
  download: boolean;
  /** Registers each device through the admin API (DEVICE_AUTH=token) with this key. */
  apiKey?: string;
}

export interface FleetCounters {
  connected: number;
  checks: number;
  offers: number;
  announcements: number;
  downloads: number;
  downloadedBytes: number;
  hashMismatches: number;
  installed: number;
  failed: number;
  errors: number;
}

interface OfferEntry {
  latestVersion: string;
  url: string | null;
  status_code: number;
  sha256: string | null;
  md5: string | null;
  size: number | null;
  rolloutId?: string;
}

interface Installed {
  version: string;
  md5: string;
  sha256: string;
}

const CHECK_TIMEOUT_MS = 30_000;

/** A stable pseudo-random number in [0, 1) per device, so the same devices fail on every run. */
function unitHash(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32BE(0) / 2 ** 32;
}

/**
 * One simulated device: checks (MQTT or HTTP), downloads and verifies what it is offered, reports
 * downloading → downloaded → installing → installed (or failed), follows bridges by checking again,
 * and re-checks after a random wait when an announcement concerns it.
 */
class SimulatedDevice {
  private client?: MqttClient;
  private readonly installed = new Map<string, Installed>();
  private readonly failing: boolean;
  /** When the check under way started (0: none); an offer that never comes frees the device after a while. */
  private busySince = 0;
  private again = false;
  private token?: string;

  constructor(
    readonly id: string,
    private readonly fleet: FleetSimulator,
    private readonly options: FleetOptions,
  ) {
    this.failing = unitHash(`fail:${id}`) < options.failRate;
  }

  get cohort(): number {
    return cohortOf(this.id);
  }

  async start(): Promise<void> {
    if (this.options.apiKey) this.token = await this.fleet.register(this.id);
    if (!this.options.mqttUrl) {
      await this.check();
      return;
    }
    this.client = mqtt.connect(this.options.mqttUrl, {
      clientId: this.id,
      protocolVersion: 4,
      reconnectPeriod: 2000,
      connectTimeout: 30_000,
      keepalive: 120,
      ...(this.token ? { username: this.id, password: this.token } : {}),
    });
    this.client.on('message', (topic, payload) => void this.onMessage(topic, payload));
    this.client.on('error', () => this.fleet.count('errors'));
    await new Promise<void>((resolve) => this.client!.once('connect', () => resolve()));
    this.fleet.count('connected');
    await this.client.subscribeAsync([`ota/v1/devices/${this.id}/offer`, 'ota/v1/announce'], { qos: 1 });
    await this.check();
  }

  async stop(): Promise<void> {
    await this.client?.endAsync(true);
  }

  private installedList() {
    return [...this.installed.entries()].map(([component, value]) => ({ component, version: value.version, md5: value.md5 }));
  }

  /** Checks now, or once more right after the check under way (an announcement arrived meanwhile). */
  async check(): Promise<void> {
    if (this.busySince > 0 && Date.now() - this.busySince < CHECK_TIMEOUT_MS) {
      this.again = true;
      return;
    }
    this.busySince = Date.now();
    try {
      do {
        this.again = false;
        this.fleet.count('checks');
        if (this.client) {
          this.client.publish(
            `ota/v1/devices/${this.id}/check`,
            JSON.stringify({ requestId: `${Date.now()}`, attributes: this.options.attributes, installed: this.installedList() }),
            { qos: 1 },
          );
          return;
        }
        await this.httpCheck();
      } while (this.again);
    } finally {
      if (!this.client) this.busySince = 0;
    }
  }

  private async httpCheck(): Promise<void> {
    const query = new URLSearchParams({ ...this.options.attributes, payloadType: 'metadataOnly', deviceId: this.id });
    const hashes = [...this.installed.values()].map((entry) => entry.md5).join(',');
    const response = await fetch(`${this.options.httpUrl}/package?${query}`, { headers: hashes ? { 'if-none-match': hashes } : {} });
    if (response.status === 304) return;
    if (!response.ok) {
      this.fleet.count('errors');
      return;
    }
    await this.follow((await response.json()) as Record<string, OfferEntry>);
  }

  private async onMessage(topic: string, payload: Buffer): Promise<void> {
    try {
      const message = JSON.parse(payload.toString());
      if (topic === 'ota/v1/announce') {
        this.fleet.count('announcements');
        const attributes = Object.fromEntries(Object.entries(this.options.attributes).map(([k, v]) => [k.toLowerCase(), v.toLowerCase()]));
        const selected = Object.entries(message.selectors ?? {}).every(([k, v]) => attributes[k.toLowerCase()] === String(v).toLowerCase());
        if (!selected || this.cohort >= message.maxCohort) return;
        // Spread the fleet's checks over the announced window instead of all at once.
        setTimeout(() => void this.check(), Math.random() * (message.jitterSeconds ?? 0) * 1000).unref();
        return;
      }
      this.fleet.count('offers');
      this.busySince = 0;
      if (message.status === 200) await this.follow(message.components);
      if (this.again) await this.check();
    } catch {
      this.fleet.count('errors');
    }
  }

  private async follow(components: Record<string, OfferEntry>): Promise<void> {
    let changed = false;
    for (const [component, offer] of Object.entries(components)) {
      if (offer.status_code !== 200 || !offer.url || !offer.sha256 || !offer.md5) continue;
      if (this.installed.get(component)?.sha256 === offer.sha256) continue;
      const report = (state: string, detail?: string) => this.report(component, offer.latestVersion, state, offer.rolloutId, detail);
      await report('downloading');
      if (this.options.download && !(await this.download(offer))) {
        await report('failed', 'checksum mismatch');
        continue;
      }
      await report('downloaded');
      await report('installing');
      if (this.failing) {
        this.fleet.count('failed');
        await report('failed', 'simulated install failure');
        continue;
      }
      this.installed.set(component, { version: offer.latestVersion, md5: offer.md5, sha256: offer.sha256 });
      this.fleet.count('installed');
      await report('installed');
      changed = true;
    }
    // A bridge version leads to another offer: check again until nothing new comes.
    if (changed) await this.check();
  }

  private async download(offer: OfferEntry): Promise<boolean> {
    const url = this.options.httpUrl ? `${this.options.httpUrl}${new URL(offer.url!).pathname}` : offer.url!;
    const response = await fetch(url);
    if (!response.ok || !response.body) return false;
    const hash = createHash('sha256');
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      hash.update(chunk);
      this.fleet.count('downloadedBytes', chunk.length);
    }
    this.fleet.count('downloads');
    const ok = hash.digest('hex') === offer.sha256;
    if (!ok) this.fleet.count('hashMismatches');
    return ok;
  }

  private async report(component: string, version: string, state: string, rolloutId?: string, detail?: string): Promise<void> {
    const body = JSON.stringify({ component, version, state, ...(rolloutId ? { rolloutId } : {}), ...(detail ? { detail } : {}) });
    if (this.client) {
      await this.client.publishAsync(`ota/v1/devices/${this.id}/status`, body, { qos: 1 });
      return;
    }
    await fetch(`${this.options.httpUrl}/devices/${this.id}/status`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(this.token ? { authorization: `Bearer ${this.token}` } : {}) },
      body,
    });
  }
}

/** A fleet of simulated devices against one appliance. Emits 'progress' with the counters. */
export class FleetSimulator extends EventEmitter {
  readonly counters: FleetCounters = {
    connected: 0,
    checks: 0,
    offers: 0,
    announcements: 0,
    downloads: 0,
    downloadedBytes: 0,
    hashMismatches: 0,
    installed: 0,
    failed: 0,
    errors: 0,
  };
  private readonly devices: SimulatedDevice[];

  constructor(private readonly options: FleetOptions) {
    super();
    this.devices = Array.from({ length: options.devices }, (_, i) => new SimulatedDevice(`${options.idPrefix}${String(i).padStart(6, '0')}`, this, options));
  }

  count(counter: keyof FleetCounters, by = 1): void {
    this.counters[counter] += by;
  }

  /** Device ids with the cohort each one falls in. */
  get fleet(): { id: string; cohort: number }[] {
    return this.devices.map((device) => ({ id: device.id, cohort: device.cohort }));
  }

  /** Brings the devices up at `rate` per second; each checks once it is up. */
  async start(): Promise<void> {
    const interval = 1000 / this.options.rate;
    const started: Promise<void>[] = [];
    for (const device of this.devices) {
      started.push(device.start().catch(() => this.count('errors')));
      this.emit('progress', this.counters);
      await new Promise((resolve) => setTimeout(resolve, interval));
    }
    await Promise.all(started);
  }

  /** Every device checks again now (without waiting for an announcement). */
  async checkAll(): Promise<void> {
    await Promise.all(this.devices.map((device) => device.check()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.devices.map((device) => device.stop()));
  }

  async register(deviceId: string): Promise<string> {
    const base = this.options.httpUrl;
    if (!base) throw new Error('--api-key needs --http to reach the admin API');
    const response = await fetch(`${base}/api/v1/devices`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.options.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: deviceId }),
    });
    if (response.status === 201) return ((await response.json()) as { token: string }).token;
    const rotated = await fetch(`${base}/api/v1/devices/${deviceId}/token`, { method: 'POST', headers: { authorization: `Bearer ${this.options.apiKey}` } });
    if (!rotated.ok) throw new Error(`could not register ${deviceId}: ${response.status}`);
    return ((await rotated.json()) as { token: string }).token;
  }
}
