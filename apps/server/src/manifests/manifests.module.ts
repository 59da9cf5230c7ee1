import { Logger, Module } from '@nestjs/common';
import { AppConfig } from '../config/app-config';
import { ManifestRepository } from './manifest.repository';
import { ManifestService } from './manifest.service';
import { ManifestsController } from './manifests.controller';
import { SigningKeys } from './signing-keys';

/** Signing keys (GET /keys) and signed artifact manifests (GET /manifests/{sha256}). */
@Module({
  controllers: [ManifestsController],
  providers: [
    {
      provide: SigningKeys,
      inject: [AppConfig],
      useFactory: async (config: AppConfig): Promise<SigningKeys> => {
        const keys = await SigningKeys.load(config.signing);
        new Logger('Signing').log(
          `${keys.created ? 'generated' : 'loaded'} manifest signing key ${keys.currentKeyId} (${config.signing.keyFile})` +
            (keys.list().length > 1
              ? `; also listing ${keys
                  .list()
                  .slice(1)
                  .map((key) => key.keyId)
                  .join(', ')}`
              : ''),
        );
        return keys;
      },
    },
    ManifestRepository,
    ManifestService,
  ],
  exports: [ManifestService],
})
export class ManifestsModule {}
