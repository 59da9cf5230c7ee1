import { parseVersion, VersionParseError } from '@app/resolver';
import { Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { createHash, randomBytes } from 'node:crypto';
import { NAME_PATTERN } from '../artifacts/names';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { unavailableIfDatabaseDown } from '../database/driver-errors';
import { UnitOfWork } from '../database/unit-of-work';
import { DeviceRepository } from './device.repository';
import { DEVICE_ID_PATTERN, StatusReportDto } from './devices.dto';

const HISTORY_LENGTH = 100;
/** Reports without a reportId that repeat word for word within this window are one report delivered twice. */
const CONTENT_DEDUPE_WINDOW_MS = 10 * 60 * 1000;
const MAX_ATTRIBUTES = 32;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

/** Validates a status report from any transport; throws InvalidInput with every problem. */
export function parseStatusReport(body: unknown): StatusReportDto {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidInput('a status report is a JSON object');
  const report = plainToInstance(StatusReportDto, body);
  const errors = validateSync(report, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length > 0) throw invalidInput(errors.flatMap((error) => Object.values(error.constraints ?? {})).join('; '));
  try {
    parseVersion(report.version);
  } catch (error) {
    if (error instanceof VersionParseError) throw invalidInput(`version: ${error.message}`);
    throw error;
  }
  return report;
}

export function validDeviceId(id: string): string {
  if (!DEVICE_ID_PATTERN.test(id)) throw invalidInput('device id must be 1-128 letters, digits, ".", "_", ":" or "-"');
  return id;
}

function dedupeKey(report: StatusReportDto, now: number): string {
  if (report.reportId) return sha256(`id\n${report.reportId}`);
  const window = Math.floor(now / CONTENT_DEDUPE_WINDOW_MS);
  return sha256(['content', window, report.component, report.version, report.state, report.detail ?? '', report.rolloutId ?? ''].join('\n'));
}

function validAttributes(attributes: Record<string, unknown> | undefined): Record<string, string> {
  const entries = Object.entries(attributes ?? {});
  if (entries.length > MAX_ATTRIBUTES) throw invalidInput(`at most ${MAX_ATTRIBUTES} attributes`);
  for (const [key, value] of entries) {
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(key)) throw invalidInput(`attribute name "${key.slice(0, 64)}" is invalid`);
    if (typeof value !== 'string' || value.length > 256) throw invalidInput(`attribute ${key} must be a string of at most 256 characters`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

export interface StatusReceipt {
  stored: boolean;
}

/**
 * Runs inside the unit of work that stores a new (not duplicate) status report: what it writes
 * commits or rolls back with the report.
 */
export type StatusListener = (deviceId: string, report: StatusReportDto) => Promise<void>;

@Injectable()
export class DeviceService {
  private readonly statusListeners: StatusListener[] = [];

  constructor(
    private readonly repository: DeviceRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly config: AppConfig,
  ) {}

  /** Lets another feature (rollouts) act on each new status report, in the same unit of work. */
  onStatusStored(listener: StatusListener): void {
    this.statusListeners.push(listener);
  }

  /**
   * Stores a status report and, for `installed`, the device's inventory. The same report
   * delivered again (same reportId, or the same content within ten minutes) is stored once.
   * While the database is down this throws Unavailable (HTTP 503 with Retry-After): the device
   * still holds the report and sends it again, which costs nothing thanks to the deduplication.
   */
  async recordStatus(deviceId: string, report: StatusReportDto, now = Date.now()): Promise<StatusReceipt> {
    validDeviceId(deviceId);
    return this.unitOfWork
      .run(async () => {
        await this.repository.markSeen(deviceId);
        const stored = await this.repository.addStatusReport({
          deviceId,
          component: report.component,
          version: report.version,
          state: report.state,
          detail: report.detail ?? null,
          rolloutId: report.rolloutId ?? null,
          dedupeKey: dedupeKey(report, now),
        });
        if (stored) for (const listener of this.statusListeners) await listener(deviceId, report);
        if (stored && report.state === 'installed') await this.repository.setInstalled(deviceId, report.component, report.version);
        return { stored };
      })
      .catch((error: unknown) => {
        throw unavailableIfDatabaseDown(error, 'the status report was not stored');
      });
  }

  /** Whether `token` is the current token of a registered device. */
  async authenticate(deviceId: string, token: string | undefined): Promise<boolean> {
    if (!token || !DEVICE_ID_PATTERN.test(deviceId)) return false;
    const device = await this.repository.findById(deviceId).catch((error: unknown) => {
      throw unavailableIfDatabaseDown(error, 'the device token cannot be checked');
    });
    return !!device?.tokenHash && device.tokenHash === sha256(token);
  }

  /** In DEVICE_AUTH=token mode, refuses a device that does not present its token. */
  async requireDevice(deviceId: string, token: string | undefined): Promise<void> {
    if (this.config.deviceAuth === 'none') return;
    if (!(await this.authenticate(deviceId, token))) {
      throw new DomainError('Unauthenticated', 'unknown device or wrong token: send Authorization: Bearer <device token>');
    }
  }

  /**
   * Records that devices were seen (and, when given, the attributes they checked with), in one
   * statement for the whole batch: a replica holding 10,000 MQTT connections must not write once per event.
   */
  async touchMany(seen: ReadonlyMap<string, Record<string, string> | undefined>): Promise<void> {
    if (seen.size === 0) return;
    // Rows are locked in one order by every batch, so concurrent batches (several replicas) cannot deadlock.
    const ids = [...seen.keys()].sort();
    const attributes = ids.map((id) => {
      const value = seen.get(id);
      return value === undefined ? null : JSON.stringify(value);
    });
    await this.unitOfWork.run(async () => {
      await this.repository.addUnknown(ids, attributes);
      await this.repository.markManySeen(ids, attributes);
    });
  }

  /**
   * Registers a device and answers its token, which is stored only as a hash. Its `site` attribute,
   * if any, is also kept apart: the site roster lets its peer agent register only there.
   */
  async register(deviceId: string, attributes?: Record<string, unknown>): Promise<{ id: string; token: string }> {
    validDeviceId(deviceId);
    const clean = validAttributes(attributes);
    const site = clean.site ?? null;
    if (site !== null && !NAME_PATTERN.test(site)) {
      throw invalidInput('attribute site must be a site id as peer agents register with: 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');
    }
    const token = `dev_${randomBytes(24).toString('base64url')}`;
    await this.unitOfWork.run(async () => {
      const existing = await this.repository.findById(deviceId);
      if (existing?.registered) throw conflict(`device ${deviceId} is already registered; rotate its token with POST /api/v1/devices/${deviceId}/token`);
      if (existing) {
        await this.repository.registerKnown(deviceId, { tokenHash: sha256(token), attributes: { ...existing.attributes, ...clean }, site });
      } else {
        await this.repository.registerNew(deviceId, { tokenHash: sha256(token), attributes: clean, site });
      }
    });
    return { id: deviceId, token };
  }

  /** The site a registered device was registered in (its `site` attribute then), or null when none was named. */
  async registeredSite(deviceId: string): Promise<string | null> {
    return (await this.repository.registeredSite(deviceId)) ?? null;
  }

  /** The size of the known fleet: every device that ever made contact or was registered. */
  count(): Promise<number> {
    return this.repository.count();
  }

  async rotateToken(deviceId: string): Promise<{ id: string; token: string }> {
    const token = `dev_${randomBytes(24).toString('base64url')}`;
    if (!(await this.repository.replaceTokenHash(deviceId, sha256(token)))) throw notFound(`no registered device ${deviceId}`);
    return { id: deviceId, token };
  }

  async list(limit = 100, after?: string) {
    const devices = await this.repository.page(limit + 1, after);
    const page = devices.slice(0, limit);
    return {
      items: page.map((d) => ({ id: d.id, attributes: d.attributes, registered: d.registered, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt })),
      next: devices.length > limit ? page[page.length - 1].id : null,
    };
  }

  async get(deviceId: string) {
    const device = await this.repository.findById(deviceId);
    if (!device) throw notFound(`no device ${deviceId}`);
    const [installed, history] = await Promise.all([this.repository.inventory(deviceId), this.repository.history(deviceId, HISTORY_LENGTH)]);
    return {
      id: device.id,
      attributes: device.attributes,
      registered: device.registered,
      site: device.site,
      createdAt: device.createdAt,
      lastSeenAt: device.lastSeenAt,
      installed: installed.map((i) => ({ component: i.component, version: i.version, updatedAt: i.updatedAt })),
      history: history.map((r) => ({ component: r.component, version: r.version, state: r.state, detail: r.detail, rolloutId: r.rolloutId, receivedAt: r.receivedAt })),
    };
  }
}
