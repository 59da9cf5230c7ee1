import { Injectable } from '@nestjs/common';
import { MoreThan } from 'typeorm';
import { DatabaseContext } from '../database/unit-of-work';
import { DeviceInventoryEntity } from './device-inventory.entity';
import { DeviceEntity } from './device.entity';
import { StatusReportEntity, type StatusState } from './status-report.entity';

export interface NewStatusReport {
  deviceId: string;
  component: string;
  version: string;
  state: StatusState;
  detail: string | null;
  rolloutId: string | null;
  dedupeKey: string;
}

export interface Registration {
  tokenHash: string;
  attributes: Record<string, string>;
  site: string | null;
}

/**
 * The devices feature's tables: devices, their status reports and what they have installed
 * (devices, status_reports, device_inventory). Every call joins the surrounding unit of work.
 */
@Injectable()
export class DeviceRepository {
  constructor(private readonly context: DatabaseContext) {}

  private get devices() {
    return this.context.repository(DeviceEntity);
  }

  /** Creates the device on first contact, and notes that it was seen now (the database's clock). */
  async markSeen(deviceId: string): Promise<void> {
    await this.context.manager.query(`INSERT INTO devices (id, last_seen_at) VALUES ($1, now()) ON CONFLICT (id) DO UPDATE SET last_seen_at = now()`, [deviceId]);
  }

  /** Adds the devices of a batch not known yet; `attributes[i]` is device `ids[i]`'s as JSON, or null for none. */
  async addUnknown(ids: string[], attributes: (string | null)[]): Promise<void> {
    await this.context.manager.query(
      `INSERT INTO devices (id, attributes, last_seen_at)
         SELECT id, COALESCE(attrs::jsonb, '{}'::jsonb), now() FROM unnest($1::varchar[], $2::text[]) AS t(id, attrs)
       ON CONFLICT (id) DO NOTHING`,
      [ids, attributes],
    );
  }

  /** Notes that every device of a batch was seen now, replacing the attributes of those that sent some. */
  async markManySeen(ids: string[], attributes: (string | null)[]): Promise<void> {
    await this.context.manager.query(
      `UPDATE devices d SET last_seen_at = now(), attributes = COALESCE(t.attrs::jsonb, d.attributes)
         FROM unnest($1::varchar[], $2::text[]) AS t(id, attrs) WHERE d.id = t.id`,
      [ids, attributes],
    );
  }

  /** Stores a status report unless one with the same dedupe key is already stored; answers whether it was stored. */
  async addStatusReport(report: NewStatusReport): Promise<boolean> {
    const inserted: { id: string }[] = await this.context.manager.query(
      `INSERT INTO status_reports (device_id, component, version, state, detail, rollout_id, dedupe_key)
       VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (device_id, dedupe_key) DO NOTHING
       RETURNING id`,
      [report.deviceId, report.component, report.version, report.state, report.detail, report.rolloutId, report.dedupeKey],
    );
    return inserted.length > 0;
  }

  /** Records `version` as the device's installed version of `component`. */
  async setInstalled(deviceId: string, component: string, version: string): Promise<void> {
    await this.context.manager.query(
      `INSERT INTO device_inventory (device_id, component, version, updated_at) VALUES ($1, $2, $3, now())
       ON CONFLICT (device_id, component) DO UPDATE SET version = EXCLUDED.version, updated_at = now()`,
      [deviceId, component, version],
    );
  }

  findById(deviceId: string): Promise<DeviceEntity | null> {
    return this.devices.findOneBy({ id: deviceId });
  }

  /** Registers a device already known from its reports, keeping the attributes it reported. */
  async registerKnown(deviceId: string, registration: Registration): Promise<void> {
    await this.devices.update({ id: deviceId }, { registered: true, ...registration });
  }

  async registerNew(deviceId: string, registration: Registration): Promise<void> {
    await this.devices.insert({ id: deviceId, registered: true, ...registration });
  }

  /** The `site` a registered device was registered with; undefined when no registered device has this id. */
  async registeredSite(deviceId: string): Promise<string | null | undefined> {
    const device = await this.devices.findOne({ select: { site: true }, where: { id: deviceId, registered: true } });
    return device?.site;
  }

  /** Replaces a registered device's token hash; answers false when no registered device has this id. */
  async replaceTokenHash(deviceId: string, tokenHash: string): Promise<boolean> {
    const result = await this.devices.update({ id: deviceId, registered: true }, { tokenHash });
    return !!result.affected;
  }

  /** How many devices are known (registered or not). */
  count(): Promise<number> {
    return this.devices.count();
  }

  /** Up to `take` devices in id order, after the id `after` when given. */
  page(take: number, after?: string): Promise<DeviceEntity[]> {
    return this.devices.find({ where: after ? { id: MoreThan(after) } : {}, order: { id: 'ASC' }, take });
  }

  inventory(deviceId: string): Promise<DeviceInventoryEntity[]> {
    return this.context.repository(DeviceInventoryEntity).find({ where: { deviceId }, order: { component: 'ASC' } });
  }

  /** The device's latest `take` status reports, newest first. */
  history(deviceId: string, take: number): Promise<StatusReportEntity[]> {
    return this.context.repository(StatusReportEntity).find({ where: { deviceId }, order: { receivedAt: 'DESC', id: 'DESC' }, take });
  }
}
