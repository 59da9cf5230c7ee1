import { Injectable, Logger } from '@nestjs/common';
import { AsyncLocalStorage } from 'node:async_hooks';
import { DataSource, type EntityManager, type ObjectLiteral, type Repository, type EntityTarget } from 'typeorm';

interface Transaction {
  manager: EntityManager;
  afterCommit: (() => Promise<void> | void)[];
}

// DatabaseContext comes first: UnitOfWork's constructor metadata names it when the module loads.
/** Where repositories find the transaction they are in, or the plain connection outside one. */
@Injectable()
export class DatabaseContext {
  readonly storage = new AsyncLocalStorage<Transaction>();

  constructor(readonly dataSource: DataSource) {}

  current(): Transaction | undefined {
    return this.storage.getStore();
  }

  get manager(): EntityManager {
    return this.current()?.manager ?? this.dataSource.manager;
  }

  repository<Entity extends ObjectLiteral>(target: EntityTarget<Entity>): Repository<Entity> {
    return this.manager.getRepository(target);
  }

  /** True inside a unit of work: row locks taken now are held until it commits. */
  get inTransaction(): boolean {
    return this.current() !== undefined;
  }
}

/**
 * One transaction that several features' repositories take part in, without an EntityManager
 * passed from service to service: {@link run} opens it, and every repository call made inside
 * (however deep) uses it, through {@link DatabaseContext}. Work that must see the committed state
 * (refreshing the in-memory catalog, scheduling, announcing) registers with {@link afterCommit}.
 */
@Injectable()
export class UnitOfWork {
  private readonly logger = new Logger('UnitOfWork');

  constructor(private readonly context: DatabaseContext) {}

  /** Runs `work` in a transaction; joins the surrounding one when called inside another unit of work. */
  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.context.current()) return work();
    const afterCommit: Transaction['afterCommit'] = [];
    const result = await this.context.dataSource.transaction((manager) => this.context.storage.run({ manager, afterCommit }, work));
    for (const task of afterCommit) {
      // The commit stands whatever follows; a failing follow-up is logged, never turned into an error for a committed change.
      await Promise.resolve()
        .then(task)
        .catch((error: unknown) => this.logger.error(`work after a commit failed: ${String(error)}`));
    }
    return result;
  }

  /** Runs `task` once the surrounding unit of work commits (at once when there is none). */
  async afterCommit(task: () => Promise<void> | void): Promise<void> {
    const transaction = this.context.current();
    if (transaction) transaction.afterCommit.push(task);
    else await task();
  }
}
