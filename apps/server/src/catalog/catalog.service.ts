import { CatalogError, indexCatalog, type CatalogIndex } from '@app/resolver';
import { Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { DatabaseContext, UnitOfWork } from '../database/unit-of-work';
import { CatalogEvents } from './catalog-events';
import type { CatalogBinary } from './catalog-snapshot';
import { CatalogRepository } from './catalog.repository';

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
  /** The units of work whose change has been counted already: one bump and one refresh each. */
  private readonly changedIn = new WeakSet<object>();

  constructor(
    private readonly repository: CatalogRepository,
    private readonly unitOfWork: UnitOfWork,
    private readonly context: DatabaseContext,
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
   * Says that what devices may be offered changed: bumps the revision in the surrounding unit of
   * work (other replicas are notified when it commits) and refreshes this replica's catalog after
   * the commit, before the unit of work returns. Several changes in one unit of work count once.
   * Outside a unit of work the bump commits on its own and the refresh follows at once.
   */
  async changed(): Promise<void> {
    const transaction = this.context.current();
    if (transaction) {
      if (this.changedIn.has(transaction)) return;
      this.changedIn.add(transaction);
    }
    await this.repository.bumpRevision();
    await this.unitOfWork.afterCommit(() => this.refresh());
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
      const { snapshot, binaries } = await this.repository.loadSnapshot();
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
      if ((await this.repository.committedRevision()) !== this.index?.revision) await this.refresh();
    } catch (error) {
      this.logger.warn(`catalog revision check failed: ${String(error)}`);
    }
  }
}
