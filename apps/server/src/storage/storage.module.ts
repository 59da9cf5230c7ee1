import { Global, Logger, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { FilesystemObjectStore } from './filesystem-object-store';
import { MinioObjectStore } from './minio-object-store';
import { ObjectStore } from './object-store';
import { StorageSpace } from './storage-space';

@Global()
@Module({
  providers: [
    {
      provide: ObjectStore,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<ObjectStore> => {
        const logger = new Logger('Storage');
        if (config.storage.kind === 's3') {
          const store = new MinioObjectStore(config.storage);
          await store.ensureBucket();
          logger.log(`S3 bucket ${config.storage.bucket} at ${config.storage.endpoint}`);
          return store;
        }
        const store = new FilesystemObjectStore(config.storage.root);
        await store.ping();
        logger.log(`filesystem object store in ${config.storage.root}`);
        return store;
      },
    },
    StorageSpace,
  ],
  exports: [ObjectStore, StorageSpace],
})
export class StorageModule {}
