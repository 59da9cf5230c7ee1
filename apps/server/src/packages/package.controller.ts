import { DeviceRequestError, parseDeviceQuery } from '@app/resolver';
import { Controller, Get, Query, Req, Res } from '@nestjs/common';
import { ApiHeader, ApiOkResponse, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { DomainError } from '../common/domain-error';
import { errorBody } from '../common/http-error.filter';
import { AppConfig } from '../config/app-config';
import { PackageService } from './package.service';

/** Errors are cached briefly, so a CDN absorbs a misconfigured fleet without pinning a mistake for long. */
const ERROR_CACHE_CONTROL = 'public, max-age=10';

@ApiTags('device: package')
@Controller()
export class PackageController {
  constructor(
    private readonly packages: PackageService,
    private readonly config: AppConfig,
  ) {}

  @Get('package')
  @ApiQuery({ name: 'cpuArch', required: true, example: 'armv8', description: 'Selects os_<cpuArch> on channel `os` (default prod)' })
  @ApiQuery({ name: 'os', required: false, example: 'beta' })
  @ApiQuery({ name: 'attrGamer', required: false, example: 'prod', description: 'attrX=<channel> selects every component whose <channel> carries flag x' })
  @ApiQuery({ name: 'payloadType', required: false, enum: ['fullPayload', 'metadataOnly'] })
  @ApiQuery({ name: 'installed', required: false, example: 'ipModule@5.6.14', description: 'component@version,… the device runs' })
  @ApiQuery({ name: 'cohort', required: false, description: '0-99: the device’s rollout cohort' })
  @ApiHeader({ name: 'If-None-Match', required: false, description: 'MD5 or SHA-256 of installed binaries, comma-separated' })
  @ApiOkResponse({ description: 'metadataOnly: package_details.json; otherwise application/gzip (tar.gz streamed as it is built)' })
  @ApiResponse({ status: 304, description: 'Every selected binary is installed' })
  @ApiResponse({ status: 400, description: 'Missing cpuArch, bad payloadType, malformed installed, too many or too long parameters' })
  @ApiResponse({ status: 404, description: 'Nothing matches' })
  async package(@Query() query: Record<string, string | string[]>, @Req() request: Request, @Res() response: Response): Promise<void> {
    response.setHeader('Vary', 'If-None-Match');
    let parsed;
    try {
      parsed = parseDeviceQuery(query, request.headers['if-none-match'], this.config.deviceRequestLimits);
    } catch (error) {
      if (!(error instanceof DeviceRequestError)) throw error;
      response.setHeader('Cache-Control', ERROR_CACHE_CONTROL);
      response.status(error.httpStatus).json(errorBody(error.httpStatus, error.message));
      return;
    }
    let answer;
    try {
      answer = this.packages.decide(parsed);
    } catch (error) {
      if (error instanceof DomainError && error.code === 'NotFound') response.setHeader('Cache-Control', ERROR_CACHE_CONTROL);
      throw error;
    }

    response.setHeader('Cache-Control', `public, max-age=${this.config.cacheTtlSeconds}`);
    response.setHeader('ETag', answer.etag);
    if (answer.notModified) {
      response.status(304).end();
      return;
    }
    const details = await this.packages.details(answer.decision);
    if (parsed.payloadType === 'metadataOnly') {
      response.status(200).json(details);
      return;
    }
    response.status(200);
    response.setHeader('Content-Type', 'application/gzip');
    response.setHeader('Content-Disposition', 'attachment; filename="ota-package.tar.gz"');
    if (request.method === 'HEAD') {
      response.end();
      return;
    }
    response.flushHeaders();
    await this.packages.streamPayload(answer.decision, details, response);
  }
}
