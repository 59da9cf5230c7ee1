import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { IsIn, IsInt, IsObject, IsOptional, IsString, IsUUID, Matches, Max, MaxLength, Min } from 'class-validator';
import { STATUS_STATES, type StatusState } from './status-report.entity';

export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The body of `POST /devices/{id}/status` and of the MQTT `…/status` message. */
export class StatusReportDto {
  @ApiProperty({ example: 'os_armv8' })
  @IsString()
  @Matches(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, { message: 'component must be a component name (1-64 letters, digits, ".", "_", "-")' })
  component!: string;

  @ApiProperty({ example: '1.1.0' })
  @IsString()
  @MaxLength(64)
  version!: string;

  @ApiProperty({ enum: STATUS_STATES })
  @IsIn(STATUS_STATES)
  state!: StatusState;

  @ApiPropertyOptional({ description: 'Free text, e.g. an error message (≤ 1000 characters)' })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  detail?: string;

  @ApiPropertyOptional({ description: 'The rollout that offered this version (from the offer)' })
  @IsOptional()
  @IsUUID()
  rolloutId?: string;

  @ApiPropertyOptional({ description: 'A device-chosen id of this report; a report sent again with the same id is stored once' })
  @IsOptional()
  @IsString()
  @Matches(/^[A-Za-z0-9._:-]{1,64}$/, { message: 'reportId must be 1-64 letters, digits, ".", "_", ":" or "-"' })
  reportId?: string;
}

export class DeviceIdParams {
  @ApiProperty({ example: 'gw-0042', pattern: DEVICE_ID_PATTERN.source, description: 'The device id (1-128 letters, digits, ".", "_", ":" or "-")' })
  @Matches(DEVICE_ID_PATTERN, { message: 'device id must be 1-128 letters, digits, ".", "_", ":" or "-"' })
  id!: string;
}

export class RegisterDeviceDto {
  @ApiProperty({ example: 'gw-0042' })
  @IsString()
  @Matches(DEVICE_ID_PATTERN, { message: 'id must be 1-128 letters, digits, ".", "_", ":" or "-"' })
  id!: string;

  @ApiPropertyOptional({ example: { cpuArch: 'armv8', site: 'plant-7' }, description: 'Attributes kept for the operator (≤ 32 string values)' })
  @IsOptional()
  @IsObject()
  attributes?: Record<string, string>;
}

export class ListDevicesQuery {
  @ApiPropertyOptional({ default: 100, maximum: 1000 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(1000)
  limit?: number;

  @ApiPropertyOptional({ description: 'Return devices after this id (the `next` of the previous page)' })
  @IsOptional()
  @Matches(DEVICE_ID_PATTERN)
  after?: string;
}

export class StatusStoredResponse {
  @ApiProperty({ description: 'False when the same report had already been stored' }) stored!: boolean;
}

export class DeviceSummaryResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ type: 'object', additionalProperties: { type: 'string' } }) attributes!: Record<string, string>;
  @ApiProperty() registered!: boolean;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) lastSeenAt!: Date | null;
}

export class DevicePageResponse {
  @ApiProperty({ type: [DeviceSummaryResponse] }) items!: DeviceSummaryResponse[];
  @ApiProperty({ nullable: true, type: String, description: 'Pass as `after` for the next page; null on the last page' }) next!: string | null;
}

export class InstalledResponse {
  @ApiProperty() component!: string;
  @ApiProperty() version!: string;
  @ApiProperty() updatedAt!: Date;
}

export class StatusHistoryResponse {
  @ApiProperty() component!: string;
  @ApiProperty() version!: string;
  @ApiProperty({ enum: STATUS_STATES }) state!: StatusState;
  @ApiProperty({ nullable: true, type: String }) detail!: string | null;
  @ApiProperty({ nullable: true, type: String }) rolloutId!: string | null;
  @ApiProperty() receivedAt!: Date;
}

export class DeviceDetailResponse extends DeviceSummaryResponse {
  @ApiProperty({ nullable: true, type: String, description: 'The `site` attribute the device was registered with: its peer agent may join only this site roster (null: any)' })
  site!: string | null;
  @ApiProperty({ type: [InstalledResponse] }) installed!: InstalledResponse[];
  @ApiProperty({ type: [StatusHistoryResponse], description: 'The latest 100 status reports, newest first' }) history!: StatusHistoryResponse[];
}

export class DeviceTokenResponse {
  @ApiProperty() id!: string;
  @ApiProperty({ description: 'The device token, shown only here: MQTT password, or Bearer token of POST /devices/{id}/status' }) token!: string;
}
