import { Body, Controller, Delete, Get, HttpCode, Param, Put, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { RequireScope } from '../auth/admin-auth.guard';
import { ChannelResponse, PutChannelDto } from './channels.dto';
import { ChannelService } from './channels.service';

@ApiTags('admin: channels')
@Controller('api/v1/components/:component/channels')
export class ChannelsController {
  constructor(private readonly channels: ChannelService) {}

  @Put(':channel')
  @RequireScope('write')
  @ApiCreatedResponse({ type: ChannelResponse, description: 'Channel created' })
  @ApiOkResponse({ type: ChannelResponse, description: 'Channel moved or changed' })
  async put(
    @Param('component') component: string,
    @Param('channel') channel: string,
    @Body() body: PutChannelDto,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ChannelResponse> {
    const result = await this.channels.put(component, channel, body);
    response.status(result.created ? 201 : 200);
    return result.channel;
  }

  @Get()
  @RequireScope('read')
  @ApiOkResponse({ type: [ChannelResponse] })
  list(@Param('component') component: string): Promise<ChannelResponse[]> {
    return this.channels.list(component);
  }

  @Get(':channel')
  @RequireScope('read')
  @ApiOkResponse({ type: ChannelResponse })
  get(@Param('component') component: string, @Param('channel') channel: string): Promise<ChannelResponse> {
    return this.channels.get(component, channel);
  }

  @Delete(':channel')
  @RequireScope('write')
  @HttpCode(204)
  async remove(@Param('component') component: string, @Param('channel') channel: string): Promise<void> {
    await this.channels.remove(component, channel);
  }
}
