import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { EventEmitter } from 'node:events';
import { Client } from 'pg';
import { AppConfig } from '../config/app-config';

export const CATALOG_CHANNEL = 'ota_catalog';
const RECONNECT_MS = 2000;

/**
 * Tells this process when another replica changed the catalog: with PostgreSQL, through
 * LISTEN/NOTIFY (CatalogService.changed() notifies in the changing transaction, so the message arrives
 * exactly when the change is visible). The embedded database has one process, which refreshes itself.
 */
@Injectable()
export class CatalogEvents implements OnApplicationShutdown {
  private readonly logger = new Logger(CatalogEvents.name);
  private readonly emitter = new EventEmitter();
  private client?: Client;
  private closing = false;
  private reconnectTimer?: NodeJS.Timeout;

  constructor(private readonly config: AppConfig) {}

  onChange(listener: (reason: string) => void): void {
    this.emitter.on('change', listener);
  }

  private changed(reason: string): void {
    this.emitter.emit('change', reason);
  }

  /** Starts listening for other replicas' changes; a dropped connection is re-established. */
  async listen(): Promise<void> {
    if (this.config.database.kind !== 'postgres' || this.closing) return;
    const client = new Client({ connectionString: this.config.database.url, application_name: 'ota-appliance catalog listener' });
    client.on('notification', (message) => {
      if (message.channel === CATALOG_CHANNEL) this.changed(`notify ${message.payload ?? ''}`);
    });
    client.on('error', (error) => {
      this.logger.warn(`catalog listener connection failed: ${error.message}; reconnecting`);
      this.scheduleReconnect();
    });
    client.on('end', () => this.scheduleReconnect());
    try {
      await client.connect();
      await client.query(`LISTEN ${CATALOG_CHANNEL}`);
      this.client = client;
      // Changes made while we were not listening would be missed: treat a (re)connect as one.
      this.changed('listener connected');
    } catch (error) {
      this.logger.warn(`could not listen for catalog changes: ${String(error)}; retrying`);
      await client.end().catch(() => undefined);
      this.scheduleReconnect();
    }
  }

  private scheduleReconnect(): void {
    if (this.closing || this.reconnectTimer) return;
    this.client = undefined;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.listen();
    }, RECONNECT_MS);
    this.reconnectTimer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closing = true;
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
