import { Module, type DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';
import { ArtifactsModule } from './artifacts/artifacts.module';
import { AuthModule } from './auth/auth.module';
import { CatalogModule } from './catalog/catalog.module';
import { ChannelsModule } from './channels/channels.module';
import { AppConfig } from './config/app-config';
import { ConfigModule } from './config/config.module';
import { DatabaseModule } from './database/database.module';
import { DevicesModule } from './devices/devices.module';
import { HealthModule } from './health/health.module';
import { ManifestsModule } from './manifests/manifests.module';
import { MetricsModule } from './metrics/metrics.module';
import { MqttModule } from './mqtt/mqtt.module';
import { PackagesModule } from './packages/packages.module';
import { RolloutsModule } from './rollouts/rollouts.module';
import { PeersModule } from './peers/peers.module';
import { StorageModule } from './storage/storage.module';

const QUIET_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

@Module({})
export class AppModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggerModule.forRoot({
          pinoHttp: {
            level: config.logLevel,
            redact: ['req.headers.authorization', 'req.headers.cookie'],
            autoLogging: { ignore: (request) => QUIET_PATHS.has((request.url ?? '').split('?')[0]) },
            customLogLevel: (_request, response, error) => (error || response.statusCode >= 500 ? 'error' : response.statusCode >= 400 ? 'warn' : 'info'),
          },
        }),
        MetricsModule,
        DatabaseModule,
        StorageModule,
        AuthModule,
        CatalogModule,
        ArtifactsModule,
        ChannelsModule,
        PackagesModule,
        DevicesModule,
        ManifestsModule,
        PeersModule,
        MqttModule,
        RolloutsModule.register({ announcer: MqttModule }),
        HealthModule,
      ],
    };
  }
}
