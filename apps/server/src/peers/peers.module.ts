import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { PeersController } from './peers.controller';
import { PeerRosterService } from './peers.service';

/** The site roster of peer agents (POST /peers/register). */
@Module({ imports: [DevicesModule], controllers: [PeersController], providers: [PeerRosterService] })
export class PeersModule {}
