import { parseVersion, VersionParseError } from '@app/resolver';
import { Injectable } from '@nestjs/common';
import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { createHash, randomBytes } from 'node:crypto';
import { DataSource, MoreThan, type EntityManager } from 'typeorm';
import { NAME_PATTERN } from '../artifacts/names';
import { conflict, DomainError, invalidInput, notFound } from '../common/domain-error';
import { AppConfig } from '../config/app-config';
import { unavailableIfDatabaseDown } from '../database/driver-errors';
import { DeviceInventoryEntity } from './device-inventory.entity';
import { DeviceEntity } from './device.entity';
import { DEVICE_ID_PATTERN, StatusReportDto } from './devices.dto';
import { StatusReportEntity } from './status-report.entity';

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

/** Runs in the transaction that stores a new (not duplicate) status report. */
export type StatusListener = (manager: EntityManager, deviceId: string, report: StatusReportDto) => Promise<void>;

@Injectable()
export class DeviceService {
  private readonly statusListeners: StatusListener[] = [];

  constructor(
    private readonly dataSource: DataSource,
    private readonly config: AppConfig,
  ) {}

  /** Lets another feature (rollouts) act on each new status report, in the same transaction. */
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
    return this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO devices (id, last_seen_at) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`,
        [deviceId],
      );
      const inserted: { id: string }[] = await manager.query(
        `INSERT INTO status_reports (device_id, component, version, state, detail, rollout_id, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (device_id, dedupe_key) DO NOTHING
         RETURNING id`,
        [deviceId, report.component, report.version, report.state, report.detail ?? null, report.rolloutId ?? null, dedupeKey(report, now)],
      );
      const stored = inserted.length > 0;
      if (stored) for (const listener of this.statusListeners) await listener(manager, deviceId, report);
      if (stored && report.state === 'installed') {
        await manager.query(
          `INSERT INTO device_inventory (device_id, component, version, updated_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (device_id, component) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
          [deviceId, report.component, report.version],
        );
      }
      return { stored };
    }).catch((error: unknown) => {
      throw unavailableIfDatabaseDown(error, 'the status report was not stored');
    });
  }

  /** Whether `token` is the current token of a registered device. */
  async authenticate(deviceId: string, token: string | undefined): Promise<boolean> {
    if (!token || !DEVICE_ID_PATTERN.test(deviceId)) return false;
    const device = await this.dataSource
      .getRepository(DeviceEntity)
      .findOneBy({ id: deviceId })
      .catch((error: unknown) => {
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
    const ids = [...seen.keys()];
    const attributes = ids.map((id) => {
      const value = seen.get(id);
      return value === undefined ? null : JSON.stringify(value);
    });
    await this.dataSource.transaction(async (manager) => {
      await manager.query(
        `INSERT INTO devices (id, attributes, last_seen_at)
           SELECT id, COALESCE(attrs::jsonb, '{}'::jsonb), now() FROM unnest($1::varchar[], $2::text[]) AS t(id, attrs)
         ON CONFLICT (id) DO NOTHING`,
        [ids, attributes],
      );
      await manager.query(
        `UPDATE devices d SET last_seen_at = now(), attributes = COALESCE(t.attrs::jsonb, d.attributes)
           FROM unnest($1::varchar[], $2::text[]) AS t(id, attrs) WHERE d.id = t.id`,
        [ids, attributes],
      );
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
    await this.dataSource.transaction(async (manager) => {
      const devices = manager.getRepository(DeviceEntity);
      const existing = await devices.findOneBy({ id: deviceId });
      if (existing?.registered) throw conflict(`device ${deviceId} is already registered; rotate its token with POST /api/v1/devices/${deviceId}/token`);
      if (existing) {
        await devices.update({ id: deviceId }, { registered: true, tokenHash: sha256(token), attributes: { ...existing.attributes, ...clean }, site });
      } else {
        await devices.insert({ id: deviceId, registered: true, tokenHash: sha256(token), attributes: clean, site });
      }
    });
    return { id: deviceId, token };
  }

  /** The site a registered device was registered in (its `site` attribute then), or null when none was named. */
  async registeredSite(deviceId: string): Promise<string | null> {
    const device = await this.dataSource.getRepository(DeviceEntity).findOne({ select: { site: true }, where: { id: deviceId, registered: true } });
    return device?.site ?? null;
  }

  async rotateToken(deviceId: string): Promise<{ id: string; token: string }> {
    const token = `dev_${randomBytes(24).toString('base64url')}`;
    const result = await this.dataSource.getRepository(DeviceEntity).update({ id: deviceId, registered: true }, { tokenHash: sha256(token) });
    if (!result.affected) throw notFound(`no registered device ${deviceId}`);
    return { id: deviceId, token };
  }

  async list(limit = 100, after?: string) {
    const devices = await this.dataSource.getRepository(DeviceEntity).find({
      where: after ? { id: MoreThan(after) } : {},
      order: { id: 'ASC' },
      take: limit + 1,
    });
    const page = devices.slice(0, limit);
    return {
      items: page.map((d) => ({ id: d.id, attributes: d.attributes, registered: d.registered, createdAt: d.createdAt, lastSeenAt: d.lastSeenAt })),
      next: devices.length > limit ? page[page.length - 1].id : null,
    };
  }

  async get(deviceId: string) {
    const device = await this.dataSource.getRepository(DeviceEntity).findOneBy({ id: deviceId });
    if (!device) throw notFound(`no device ${deviceId}`);
    const [installed, history] = await Promise.all([
      this.dataSource.getRepository(DeviceInventoryEntity).find({ where: { deviceId }, order: { component: 'ASC' } }),
      this.dataSource.getRepository(StatusReportEntity).find({ where: { deviceId }, order: { receivedAt: 'DESC', id: 'DESC' }, take: HISTORY_LENGTH }),
    ]);
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
