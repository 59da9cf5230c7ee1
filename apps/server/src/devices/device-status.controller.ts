import { Body, Controller, Headers, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiHeader, ApiOkResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { DeviceIdParams, StatusReportDto, StatusStoredResponse } from './devices.dto';
import { DeviceService, parseStatusReport } from './devices.service';
import { bearerToken } from '../common/bearer-token';


@ApiTags('device: status')
@Controller('devices')
export class DeviceStatusController {
  constructor(private readonly devices: DeviceService) {}

  /** The HTTP twin of the MQTT status message. */
  @Post(':id/status')
  @HttpCode(200)
  @ApiHeader({ name: 'Authorization', required: false, description: 'Bearer <device token>; required when DEVICE_AUTH=token' })
  @ApiOkResponse({ type: StatusStoredResponse })
  @ApiBadRequestResponse({ description: 'Not a valid status report' })
  @ApiUnauthorizedResponse({ description: 'DEVICE_AUTH=token and the device or its token is unknown' })
  async report(@Param() params: DeviceIdParams, @Body() body: StatusReportDto, @Headers('authorization') authorization?: string): Promise<StatusStoredResponse> {
    await this.devices.requireDevice(params.id, bearerToken(authorization));
    return this.devices.recordStatus(params.id, parseStatusReport(body));
  }
}
