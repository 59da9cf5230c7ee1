import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiForbiddenResponse, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { RegisterPeerDto, RosterResponse } from './peers.dto';
import { PeerRosterService } from './peers.service';
import { Public } from '../auth/admin-auth.guard';
import { ApiOptionalDeviceToken, DeviceToken } from '../common/device-token';

@ApiTags('peer agents')
@Controller('peers')
export class PeersController {
  constructor(private readonly roster: PeerRosterService) {}

  @Post('register')
  @Public('peer agent registration')
  @HttpCode(200)
  @ApiOptionalDeviceToken()
  @ApiOkResponse({ type: RosterResponse, description: "Registered (or refreshed); the site's other live peers" })
  @ApiBadRequestResponse({ description: 'Invalid site, peerId, addrs or httpUrl' })
  @ApiUnauthorizedResponse({ description: 'DEVICE_AUTH=token and deviceId or its token (Authorization: Bearer, the token of `deviceId`) is missing or wrong' })
  @ApiForbiddenResponse({ description: 'DEVICE_AUTH=token and the device was registered with another `site` attribute than this site' })
  @ApiConflictResponse({
    description: 'The site roster is full, or (DEVICE_AUTH=token) another device owns this peerId: an operator can release it with DELETE /api/v1/peers/{peerId}',
  })
  register(@Body() body: RegisterPeerDto, @DeviceToken() token?: string): Promise<RosterResponse> {
    return this.roster.register(body, token);
  }
}
