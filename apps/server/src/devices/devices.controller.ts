import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiConflictResponse, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope } from '../auth/admin-auth.guard';
import { DeviceDetailResponse, DeviceIdParams, DevicePageResponse, DeviceTokenResponse, ListDevicesQuery, RegisterDeviceDto } from './devices.dto';
import { DeviceService } from './devices.service';

@ApiTags('admin: devices')
@Controller('api/v1/devices')
export class DevicesController {
  constructor(private readonly devices: DeviceService) {}

  @Get()
  @RequireScope('read')
  @ApiOkResponse({ type: DevicePageResponse })
  list(@Query() query: ListDevicesQuery): Promise<DevicePageResponse> {
    return this.devices.list(query.limit ?? 100, query.after);
  }

  @Get(':id')
  @RequireScope('read')
  @ApiOkResponse({ type: DeviceDetailResponse })
  get(@Param() params: DeviceIdParams): Promise<DeviceDetailResponse> {
    return this.devices.get(params.id);
  }

  @Post()
  @RequireScope('write')
  @ApiCreatedResponse({ type: DeviceTokenResponse, description: 'Registered; the token is shown only here' })
  @ApiConflictResponse({ description: 'Already registered: rotate the token instead' })
  register(@Body() body: RegisterDeviceDto): Promise<DeviceTokenResponse> {
    return this.devices.register(body.id, body.attributes);
  }

  @Post(':id/token')
  @RequireScope('write')
  @ApiCreatedResponse({ type: DeviceTokenResponse, description: 'A new token; the old one stops working at once' })
  rotate(@Param() params: DeviceIdParams): Promise<DeviceTokenResponse> {
    return this.devices.rotateToken(params.id);
  }
}
