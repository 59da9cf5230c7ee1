import { Injectable, Logger } from '@nestjs/common';
import { DeviceService } from '../devices/devices.service';
import { RolloutAnnouncer, type RolloutAnnouncement } from './rollout-announcements';
import { announcementJitterSeconds } from './rollout-policy';
import { RolloutQueries } from './rollout-queries.service';
import type { RolloutEntity } from './rollout.entity';

/**
 * Tells devices, through the {@link RolloutAnnouncer}, that a rollout phase opened. An
 * announcement only makes devices check sooner (they check on their own anyway), so one that
 * cannot be made is logged, never an error of the rollout.
 */
@Injectable()
export class RolloutPhaseAnnouncements {
  private readonly logger = new Logger('Rollouts');

  constructor(
    private readonly announcer: RolloutAnnouncer,
    private readonly queries: RolloutQueries,
    private readonly devices: DeviceService,
  ) {}

  async phaseOpened(rollout: RolloutEntity, percent: number, previousPercent: number): Promise<void> {
    const names = (await this.queries.names([rollout]))(rollout);
    // The fleet is counted only when the rollout limits its pace.
    const fleetSize = rollout.maxDevicesPerMinute ? await this.devices.count() : 0;
    const jitterSeconds = announcementJitterSeconds(rollout, fleetSize, percent, previousPercent);
    const announcement: RolloutAnnouncement = {
      component: names.component,
      channel: names.channel,
      version: names.version,
      selectors: rollout.selectors,
      maxCohort: percent,
      jitterSeconds,
    };
    await this.announcer.announce(announcement).catch((error: unknown) => this.logger.error(`could not announce rollout ${rollout.id}: ${String(error)}`));
  }
}
