import { Controller, Delete, HttpCode, Param } from '@nestjs/common';
import { ApiNoContentResponse, ApiNotFoundResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/admin-auth.guard';
import { PeerIdParams } from './peers.dto';
import { PeerRosterService } from './peers.service';

@ApiTags('admin: peer agents')
@Controller('api/v1/peers')
export class PeersAdminController {
  constructor(private readonly roster: PeerRosterService) {}

  @Delete(':peerId')
  @RequireScope('write')
  @HttpCode(204)
  @ApiNoContentResponse({ description: 'Released: the peer id has no owning device and is in no site roster; the next device to register it owns it' })
  @ApiNotFoundResponse({ description: 'No device owns the peer id and no site roster lists it' })
  async release(@Param() params: PeerIdParams): Promise<void> {
    await this.roster.release(params.peerId);
  }
}
