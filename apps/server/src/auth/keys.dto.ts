import { ApiProperty } from '@nestjs/swagger';
import { IsIn, IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { API_KEY_SCOPES, type ApiKeyScope } from './api-key.entity';

export class CreateApiKeyDto {
  @ApiProperty({ example: 'ci-uploader', description: 'What the key is for (1-100 characters)' })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  name!: string;

  @ApiProperty({ enum: API_KEY_SCOPES, description: 'read: list and download; write: upload and change channels; admin: also manage keys' })
  @IsIn(API_KEY_SCOPES)
  scope!: ApiKeyScope;
}

export class ApiKeyIdParams {
  @ApiProperty({ format: 'uuid', description: 'Id of the API key, as listed by GET /api/v1/keys' })
  @Matches(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, { message: 'id must be a UUID' })
  id!: string;
}

export class ApiKeyResponse {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty({ enum: API_KEY_SCOPES }) scope!: ApiKeyScope;
  @ApiProperty() createdAt!: Date;
  @ApiProperty({ nullable: true, type: Date }) lastUsedAt!: Date | null;
  @ApiProperty({ nullable: true, type: Date }) revokedAt!: Date | null;
}

export class CreatedApiKeyResponse extends ApiKeyResponse {
  @ApiProperty({ description: 'The secret, shown only in this response; store it now' })
  key!: string;
}
