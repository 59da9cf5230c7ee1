import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

export class UploadQuery {
  @ApiPropertyOptional({ description: 'Lowest installed version that may go straight to this one (a bridge constraint); also accepted as header X-Requires-From' })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  requiresFrom?: string;

  @ApiPropertyOptional({ description: 'Release notes (≤ 2000 characters); also accepted as header X-Notes' })
  @IsOptional()
  @IsString()
  @MaxLength(2000)
  notes?: string;
}

export class ArtifactResponse {
  @ApiProperty({ example: 'ipModule' }) component!: string;
  @ApiProperty({ example: '6.15.008' }) version!: string;
  @ApiProperty({ example: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' }) sha256!: string;
  @ApiProperty({ example: 'd41d8cd98f00b204e9800998ecf8427e' }) md5!: string;
  @ApiProperty({ example: 10485760 }) size!: number;
  @ApiProperty({ nullable: true, type: String, example: '5.6.30' }) requiresFrom!: string | null;
  @ApiProperty({ nullable: true, type: String }) notes!: string | null;
  @ApiProperty() createdAt!: Date;
}

export class VersionResponse extends ArtifactResponse {
  @ApiProperty({ type: [String], description: 'Channels pointing at this version' }) channels!: string[];
}

export class ComponentResponse {
  @ApiProperty({ example: 'os_armv8' }) name!: string;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ description: 'Number of stored versions' }) versions!: number;
  @ApiProperty({ nullable: true, type: String }) latestVersion!: string | null;
  @ApiProperty({ type: [String] }) channels!: string[];
}
