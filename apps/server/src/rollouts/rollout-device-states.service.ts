import { parseVersion } from '@app/resolver';
import { Injectable } from '@nestjs/common';
import type { StatusReportDto } from '../devices/devices.dto';
import { DeviceService } from '../devices/devices.service';
import { RolloutRepository } from './rollout.repository';

/**
 * Each device's state within the rollout it takes part in, kept from its status reports: what a
 * rollout's ticks are judged on. A report counts toward the rollout it names, or else the running
 * (or paused) rollout of that component whose version it reports; a device stays in the phase it
 * first reported in.
 */
@Injectable()
export class RolloutDeviceStates {
  constructor(
    private readonly rollouts: RolloutRepository,
    devices: DeviceService,
  ) {
    // Runs inside the unit of work that stores the report: the state commits (or not) with it.
    devices.onStatusStored((deviceId, report) => this.record(deviceId, report));
  }

  async record(deviceId: string, report: StatusReportDto): Promise<void> {
    await this.rollouts.recordDeviceState({
      deviceId,
      state: report.state,
      rolloutId: report.rolloutId ?? null,
      component: report.component,
      versionKey: parseVersion(report.version).key,
    });
  }
}
