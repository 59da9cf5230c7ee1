import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import type { Readable } from 'node:stream';
import { Public } from '../auth/admin-auth.guard';
import { invalidInput, notFound } from '../common/domain-error';
import { MetricsService } from '../metrics/metrics.service';
import { ObjectStore, type ByteRange } from '../storage/object-store';
import { sendBinary } from './artifact-response';
import { artifactKey, ArtifactService } from './artifacts.service';
import { SHA256_PATTERN } from './names';

@ApiTags('device: downloads')
@Controller('artifacts')
export class DownloadsController {
  constructor(
    private readonly artifacts: ArtifactService,
    private readonly store: ObjectStore,
    private readonly metrics: MetricsService,
  ) {}

  /**
   * GET and HEAD (Express answers HEAD with the GET route). What the headers need comes from the
   * in-memory catalog and the bytes from the object store, so downloads go on while the database is down.
   */
  @Get(':sha256')
  @Public('device download')
  @ApiParam({ name: 'sha256', description: 'SHA-256 of the binary, 64 lower-case hex digits' })
  @ApiOkResponse({ description: 'The binary; single Range requests get 206, unsatisfiable ones 416' })
  async download(@Param('sha256') sha256: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    const hash = sha256.toLowerCase();
    if (!SHA256_PATTERN.test(hash)) throw invalidInput('artifact id must be a SHA-256: 64 hex digits');
    const binary = await this.artifacts.findBySha256(hash);
    if (!binary) throw notFound(`no artifact has sha256 ${hash}`);
    await sendBinary(
      request,
      response,
      binary,
      (range) => this.open(hash, range),
      (bytes) => this.metrics.artifactBytesSent.inc({ route: 'artifacts' }, bytes),
    );
  }

  /** A catalog that has not yet heard of a delete made on another replica can list bytes that are gone. */
  private async open(hash: string, range?: ByteRange): Promise<Readable> {
    try {
      return await this.store.read(artifactKey(hash), range);
    } catch (error) {
      // A store that cannot say either way keeps its own error.
      const stored = await this.store.stat(artifactKey(hash)).then(
        (info) => info !== undefined,
        () => true,
      );
      if (!stored) throw notFound(`no artifact has sha256 ${hash}`);
      throw error;
    }
  }
}
