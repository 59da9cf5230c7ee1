import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { PackagesModule } from '../packages/packages.module';
import { RolloutAnnouncer } from '../rollouts/rollout-announcements';
import { AnnounceService } from './announce.service';
import { MqttService } from './mqtt.service';

@Module({
  imports: [PackagesModule, DevicesModule],
  // MQTT is how rollouts reach devices unasked: it is their announcer.
  providers: [MqttService, AnnounceService, { provide: RolloutAnnouncer, useExisting: AnnounceService }],
  exports: [MqttService, AnnounceService, RolloutAnnouncer],
})
export class MqttModule {}
