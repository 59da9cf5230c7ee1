import { Global, Inject, Injectable, Logger, Module, type OnApplicationShutdown } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { AppConfig } from '../config/app-config';
import { lockDataDir } from './data-dir-lock';
import { openDataSource, runMigrations } from './data-source';
import { DatabaseContext, UnitOfWork } from './unit-of-work';

const DATA_DIR_UNLOCK = Symbol('DATA_DIR_UNLOCK');

@Injectable()
class DatabaseLifecycle implements OnApplicationShutdown {
  constructor(
    private readonly dataSource: DataSource,
    @Inject(DATA_DIR_UNLOCK) private readonly unlock: (() => Promise<void>) | undefined,
  ) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.dataSource.isInitialized) await this.dataSource.destroy();
    await this.unlock?.().catch(() => undefined);
  }
}

/**
 * Opens PostgreSQL (DATABASE_URL) or the embedded PGlite under DATA_DIR, which this process then
 * owns exclusively, and brings the schema up to date before anything else touches it.
 */
@Global()
@Module({
  providers: [
    {
      provide: DATA_DIR_UNLOCK,
      inject: [AppConfig],
      useFactory: async (config: AppConfig) => {
        if (!config.usesEmbeddedDatabase) return undefined;
        const logger = new Logger('Database');
        return lockDataDir(config.dataDir, (error) => {
          // Another process took DATA_DIR: continuing would corrupt the embedded database.
          logger.fatal(`lost the lock on DATA_DIR (${error.message}); stopping`);
          process.exit(70);
        });
      },
    },
    {
      provide: DataSource,
      inject: [AppConfig, DATA_DIR_UNLOCK],
      useFactory: async (config: AppConfig) => {
        const logger = new Logger('Database');
        const dataSource = await openDataSource(config.database);
        const applied = await runMigrations(dataSource);
        logger.log(
          `${config.database.kind === 'postgres' ? 'PostgreSQL' : `embedded PostgreSQL in ${config.database.dataDir}`}` +
            (applied.length > 0 ? `; applied migrations: ${applied.join(', ')}` : '; schema up to date'),
        );
        return dataSource;
      },
    },
    DatabaseLifecycle,
    DatabaseContext,
    UnitOfWork,
  ],
  exports: [DataSource, DatabaseContext, UnitOfWork],
})
export class DatabaseModule {}
