import { Controller, Delete, Get, HttpCode, Param, Put, Query, Req, Res } from '@nestjs/common';
import { ApiBody, ApiConflictResponse, ApiConsumes, ApiCreatedResponse, ApiOkResponse, ApiPayloadTooLargeResponse, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { RequireScope } from '../auth/admin-auth.guard';
import { ArtifactService } from './artifacts.service';
import { ArtifactResponse, ComponentResponse, UploadQuery, VersionResponse } from './artifacts.dto';

function headerValue(request: Request, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

@ApiTags('admin: components and versions')
@Controller('api/v1/components')
export class ComponentsController {
  constructor(private readonly artifacts: ArtifactService) {}

  @Put(':component/versions/:version')
  @RequireScope('write')
  @ApiConsumes('application/octet-stream')
  @ApiBody({ description: 'The raw binary, streamed', schema: { type: 'string', format: 'binary' } })
  @ApiCreatedResponse({ type: ArtifactResponse, description: 'Stored as a new version' })
  @ApiOkResponse({ type: ArtifactResponse, description: 'The same bytes were already stored under this version' })
  @ApiConflictResponse({ description: 'Other bytes are already stored under this version' })
  @ApiPayloadTooLargeResponse({ description: 'Larger than MAX_UPLOAD_BYTES; nothing stored' })
  @ApiResponse({ status: 507, description: 'No room for it: the disk or the S3 server is full, or DATA_DIR is below STORAGE_MIN_FREE_BYTES; nothing stored' })
  async upload(
    @Param('component') component: string,
    @Param('version') version: string,
    @Query() query: UploadQuery,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ): Promise<ArtifactResponse> {
    const length = headerValue(request, 'content-length');
    const { artifact, created } = await this.artifacts.upload({
      component,
      version,
      requiresFrom: query.requiresFrom ?? headerValue(request, 'x-requires-from'),
      notes: query.notes ?? headerValue(request, 'x-notes'),
      declaredLength: length !== undefined && /^\d+$/.test(length) ? Number(length) : undefined,
      body: request,
    });
    response.status(created ? 201 : 200);
    return artifact;
  }

  @Get()
  @RequireScope('read')
  @ApiOkResponse({ type: [ComponentResponse] })
  list(): Promise<ComponentResponse[]> {
    return this.artifacts.listComponents();
  }

  @Get(':component/versions')
  @RequireScope('read')
  @ApiOkResponse({ type: [VersionResponse] })
  versions(@Param('component') component: string): Promise<VersionResponse[]> {
    return this.artifacts.listVersions(component);
  }

  @Get(':component/versions/:version')
  @RequireScope('read')
  @ApiOkResponse({ type: VersionResponse })
  version(@Param('component') component: string, @Param('version') version: string): Promise<VersionResponse> {
    return this.artifacts.getVersion(component, version);
  }

  @Delete(':component/versions/:version')
  @RequireScope('write')
  @HttpCode(204)
  @ApiConflictResponse({ description: 'A channel still points at this version' })
  async remove(@Param('component') component: string, @Param('version') version: string): Promise<void> {
    await this.artifacts.deleteVersion(component, version);
  }
}
