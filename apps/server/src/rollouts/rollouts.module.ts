import { Module, type DynamicModule, type Type } from '@nestjs/common';
import { ArtifactsModule } from '../artifacts/artifacts.module';
import { ChannelsModule } from '../channels/channels.module';
import { AppConfig } from '../config/app-config';
import { DevicesModule } from '../devices/devices.module';
import { BullMqRolloutScheduler } from './bullmq-scheduler';
import { InProcessRolloutScheduler } from './in-process-scheduler';
import { RolloutPhaseAnnouncements } from './rollout-phase-announcements.service';
import { RolloutCommands } from './rollout-commands.service';
import { RolloutDeviceStates } from './rollout-device-states.service';
import { RolloutEvaluator } from './rollout-evaluator.service';
import { RolloutGuards } from './rollout-guards';
import { RolloutMetrics } from './rollout-metrics';
import { RolloutQueries } from './rollout-queries.service';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutTransitions } from './rollout-transitions.service';
import { RolloutRepository } from './rollout.repository';
import { RolloutsController } from './rollouts.controller';

export interface RolloutsModuleOptions {
  /**
   * The module that provides and exports the rollouts' `RolloutAnnouncer` port (a device transport
   * that reaches devices unasked), chosen by the application: this feature imports no transport.
   * Being imported, it also starts before the rollouts' ticks do and stops after them.
   */
  announcer: Type | DynamicModule;
}

/** Staged rollouts: the operator's commands and queries, the tick engine, and devices' states within a rollout. */
@Module({})
export class RolloutsModule {
  static register(options: RolloutsModuleOptions): DynamicModule {
    return {
      module: RolloutsModule,
      imports: [ArtifactsModule, ChannelsModule, DevicesModule, options.announcer],
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
        RolloutRepository,
        RolloutQueries,
        RolloutPhaseAnnouncements,
        RolloutTransitions,
        RolloutEvaluator,
        RolloutCommands,
        RolloutDeviceStates,
        RolloutGuards,
        RolloutMetrics,
      ],
    };
  }
}
