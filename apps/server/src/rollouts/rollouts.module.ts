import { Module } from '@nestjs/common';
import { ArtifactsModule } from '../artifacts/artifacts.module';
import { AppConfig } from '../config/app-config';
import { DevicesModule } from '../devices/devices.module';
import { MqttModule } from '../mqtt/mqtt.module';
import { BullMqRolloutScheduler } from './bullmq-scheduler';
import { InProcessRolloutScheduler } from './in-process-scheduler';
import { RolloutMetrics } from './rollout-metrics';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutsController } from './rollouts.controller';
import { RolloutService } from './rollouts.service';

@Module({
  imports: [ArtifactsModule, DevicesModule, MqttModule],
  controllers: [RolloutsController],
  providers: [
    {
      provide: RolloutScheduler,
      inject: [AppConfig],
      useFactory: (config: AppConfig): RolloutScheduler => {
        const tickMs = config.rolloutTickSeconds * 1000;
        return config.redis ? new BullMqRolloutScheduler(config.redis.url, config.redis.prefix, tickMs) : new InProcessRolloutScheduler(tickMs);
      },
    },
    RolloutService,
    RolloutMetrics,
  ],
})
export class RolloutsModule {}
