import { CatalogError, indexCatalog, type CatalogIndex } from '@app/resolver';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CatalogEvents } from './catalog-events';
import { loadCatalogSnapshot, type CatalogBinary } from './catalog-snapshot';

/** A notification can be lost (a listener reconnecting); a cheap revision check every so often catches it. */
const SAFETY_CHECK_MS = 30_000;

/**
 * The catalog every device decision reads, held in memory so a check costs no database query.
 * Refreshed after local changes, on other replicas' notifications, and by a periodic revision check.
 */
@Injectable()
export class CatalogService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(CatalogService.name);
  private index?: CatalogIndex;
  private binaries: ReadonlyMap<string, CatalogBinary> = new Map();
  private running?: Promise<void>;
  private again = false;
  private safetyTimer?: NodeJS.Timeout;

  constructor(
    private readonly dataSource: DataSource,
    private readonly events: CatalogEvents,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.refresh();
    this.events.onChange(() => void this.refresh());
    await this.events.listen();
    this.safetyTimer = setInterval(() => void this.checkRevision(), SAFETY_CHECK_MS);
    this.safetyTimer.unref();
  }

  onApplicationShutdown(): void {
    clearInterval(this.safetyTimer);
  }

  /** The current catalog. */
  current(): CatalogIndex {
    if (!this.index) throw new Error('the catalog has not been loaded yet');
    return this.index;
  }

  /**
   * The stored binary with this SHA-256 (lower-case hex) as of the current catalog, so downloads
   * need no database. Undefined when the catalog does not list it (it may have been stored by
   * another replica a moment ago, whose notification is on its way).
   */
  binary(sha256: string): CatalogBinary | undefined {
    return this.binaries.get(sha256);
  }

  /**
   * Reloads the catalog; resolves once a load that started after this call has finished, so a
   * caller that just committed a change sees it. Concurrent calls share loads.
   */
  refresh(): Promise<void> {
    if (this.running) {
      // The load under way may have read before the caller's commit: it runs once more.
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.again = false;
          await this.load();
        } while (this.again);
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  private async load(): Promise<void> {
    try {
      const { snapshot, binaries } = await loadCatalogSnapshot(this.dataSource);
      this.index = indexCatalog(snapshot);
      this.binaries = binaries;
    } catch (error) {
      // Keep answering devices from the last good catalog rather than failing every check.
      if (error instanceof CatalogError) this.logger.error(`catalog is inconsistent, keeping revision ${this.index?.revision}: ${error.message}`);
      else this.logger.error(`could not load the catalog: ${String(error)}`);
      if (!this.index) throw error;
    }
  }

  private async checkRevision(): Promise<void> {
    try {
      const [row] = (await this.dataSource.query(`SELECT revision FROM catalog_revision WHERE id = 1`)) as { revision: string }[];
      if (String(row.revision) !== this.index?.revision) await this.refresh();
    } catch (error) {
      this.logger.warn(`catalog revision check failed: ${String(error)}`);
    }
  }
}
