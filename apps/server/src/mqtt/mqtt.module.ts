import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { PackagesModule } from '../packages/packages.module';
import { AnnounceService } from './announce.service';
import { MqttService } from './mqtt.service';

@Module({ imports: [PackagesModule, DevicesModule], providers: [MqttService, AnnounceService], exports: [MqttService, AnnounceService] })
export class MqttModule {}
