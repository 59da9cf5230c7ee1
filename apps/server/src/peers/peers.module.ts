import { Module } from '@nestjs/common';
import { DevicesModule } from '../devices/devices.module';
import { PeerRepository } from './peer.repository';
import { PeersAdminController } from './peers-admin.controller';
import { PeersController } from './peers.controller';
import { PeerRosterService } from './peers.service';

/** The site roster of peer agents (POST /peers/register), and its release by operators (DELETE /api/v1/peers/{peerId}). */
@Module({ imports: [DevicesModule], controllers: [PeersController, PeersAdminController], providers: [PeerRepository, PeerRosterService] })
export class PeersModule {}
