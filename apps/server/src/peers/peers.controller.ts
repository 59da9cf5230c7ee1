import { Body, Controller, Headers, HttpCode, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiConflictResponse, ApiHeader, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { RegisterPeerDto, RosterResponse } from './peers.dto';
import { PeerRosterService } from './peers.service';
import { bearerToken } from '../common/bearer-token';


@ApiTags('peer agents')
@Controller('peers')
export class PeersController {
  constructor(private readonly roster: PeerRosterService) {}

  @Post('register')
  @HttpCode(200)
  @ApiHeader({ name: 'Authorization', required: false, description: 'Bearer <device token> of `deviceId`; required when DEVICE_AUTH=token' })
  @ApiOkResponse({ type: RosterResponse, description: "Registered (or refreshed); the site's other live peers" })
  @ApiBadRequestResponse({ description: 'Invalid site, peerId, addrs or httpUrl' })
  @ApiUnauthorizedResponse({ description: 'DEVICE_AUTH=token and deviceId or its token is missing or wrong' })
  @ApiConflictResponse({ description: 'The site roster is full' })
  register(@Body() body: RegisterPeerDto, @Headers('authorization') authorization?: string): Promise<RosterResponse> {
    return this.roster.register(body, bearerToken(authorization));
  }
}
