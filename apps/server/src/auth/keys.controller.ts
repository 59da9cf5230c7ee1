import { Body, Controller, Delete, Get, HttpCode, Param, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { RequireScope } from './admin-auth.guard';
import { ApiKeyService } from './api-key.service';
import { ApiKeyIdParams, ApiKeyResponse, CreateApiKeyDto, CreatedApiKeyResponse } from './keys.dto';

@ApiTags('admin: API keys')
@Controller('api/v1/keys')
@RequireScope('admin')
export class KeysController {
  constructor(private readonly apiKeys: ApiKeyService) {}

  @Post()
  @ApiCreatedResponse({ type: CreatedApiKeyResponse })
  create(@Body() body: CreateApiKeyDto): Promise<CreatedApiKeyResponse> {
    return this.apiKeys.create(body.name, body.scope);
  }

  @Get()
  @ApiOkResponse({ type: [ApiKeyResponse] })
  list(): Promise<ApiKeyResponse[]> {
    return this.apiKeys.list();
  }

  @Delete(':id')
  @HttpCode(204)
  async revoke(@Param() params: ApiKeyIdParams): Promise<void> {
    await this.apiKeys.revoke(params.id);
  }
}
