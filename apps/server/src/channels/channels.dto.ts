import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { ArrayMaxSize, IsArray, IsBoolean, IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class PutChannelDto {
  @ApiProperty({ example: '1.1.0', description: 'An uploaded version of the component' })
  @IsString()
  @MaxLength(64)
  version!: string;

  @ApiPropertyOptional({ type: [String], example: ['gamer'], description: 'Attribute flags that pull this channel in (attrGamer=<channel>); case-insensitive' })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(32)
  @Matches(/^[A-Za-z0-9_-]{1,64}$/, { each: true, message: 'each attribute flag must be 1-64 letters, digits, "_" or "-"' })
  attributes?: string[];

  @ApiPropertyOptional({ default: false, description: 'Let devices that run a newer version be offered this one' })
  @IsOptional()
  @IsBoolean()
  allowDowngrade?: boolean;
}

export class ChannelResponse {
  @ApiProperty({ example: 'scoreboard' }) component!: string;
  @ApiProperty({ example: 'prod' }) channel!: string;
  @ApiProperty({ example: '1.0.0' }) version!: string;
  @ApiProperty({ type: [String], example: ['gamer'] }) attributes!: string[];
  @ApiProperty() allowDowngrade!: boolean;
  @ApiProperty() sha256!: string;
  @ApiProperty() md5!: string;
  @ApiProperty() size!: number;
  @ApiProperty() updatedAt!: Date;
}
