import { Body, Controller, HttpCode, Param, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiOkResponse, ApiServiceUnavailableResponse, ApiTags, ApiUnauthorizedResponse } from '@nestjs/swagger';
import { DeviceIdParams, StatusReportDto, StatusStoredResponse } from './devices.dto';
import { DeviceService, parseStatusReport } from './devices.service';
import { Public } from '../auth/admin-auth.guard';
import { ApiOptionalDeviceToken, DeviceToken } from '../common/device-token';

@ApiTags('device: status')
@Controller('devices')
export class DeviceStatusController {
  constructor(private readonly devices: DeviceService) {}

  /** The HTTP twin of the MQTT status message. */
  @Post(':id/status')
  @Public('device status report')
  @HttpCode(200)
  @ApiOptionalDeviceToken()
  @ApiOkResponse({ type: StatusStoredResponse })
  @ApiBadRequestResponse({ description: 'Not a valid status report' })
  @ApiUnauthorizedResponse({ description: 'DEVICE_AUTH=token and the device or its token is unknown' })
  @ApiServiceUnavailableResponse({ description: 'The database cannot be reached: nothing was stored, send the report again after Retry-After seconds' })
  async report(@Param() params: DeviceIdParams, @Body() body: StatusReportDto, @DeviceToken() token?: string): Promise<StatusStoredResponse> {
    await this.devices.requireDevice(params.id, token);
    return this.devices.recordStatus(params.id, parseStatusReport(body));
  }
}
