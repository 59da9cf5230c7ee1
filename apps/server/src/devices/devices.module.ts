import { Module } from '@nestjs/common';
import { DeviceStatusController } from './device-status.controller';
import { DeviceRepository } from './device.repository';
import { DevicesController } from './devices.controller';
import { DeviceService } from './devices.service';

@Module({ controllers: [DeviceStatusController, DevicesController], providers: [DeviceRepository, DeviceService], exports: [DeviceService] })
export class DevicesModule {}
