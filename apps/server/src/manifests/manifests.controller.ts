import { Controller, Get, Param, Req, Res } from '@nestjs/common';
import { ApiBadRequestResponse, ApiNotFoundResponse, ApiOkResponse, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { SHA256_PATTERN } from '../artifacts/names';
import { Public } from '../auth/admin-auth.guard';
import { invalidInput } from '../common/domain-error';
import { ManifestService } from './manifest.service';
import { SignedManifestResponse, SigningKeysResponse } from './manifests.dto';

/** Keys change only with an operator's rotation; devices pin them anyway. */
const KEYS_CACHE_CONTROL = 'public, max-age=300';
/**
 * A manifest's bytes change only when the key that signed it is retired (it is then signed again),
 * so a day: long enough for caches to matter, short enough that a retirement reaches every cache
 * without a purge. Artifacts themselves stay immutable.
 */
const MANIFEST_CACHE_CONTROL = 'public, max-age=86400';

function matches(ifNoneMatch: string | undefined, etag: string): boolean {
  return !!ifNoneMatch && ifNoneMatch.split(',').some((token) => token.trim().replace(/^W\//, '') === etag || token.trim() === '*');
}

@ApiTags('device: downloads')
@Controller()
export class ManifestsController {
  constructor(private readonly manifests: ManifestService) {}

  @Get('manifests/:sha256')
  @Public('device manifest')
  @ApiParam({ name: 'sha256', description: 'SHA-256 of the binary, 64 hex digits' })
  @ApiOkResponse({ type: SignedManifestResponse, description: 'The signed manifest, cacheable for a day, with an ETag' })
  @ApiBadRequestResponse({ description: 'Not a SHA-256' })
  @ApiNotFoundResponse({ description: 'No artifact has this SHA-256' })
  async manifest(@Param('sha256') sha256: string, @Req() request: Request, @Res() response: Response): Promise<void> {
    const hash = sha256.toLowerCase();
    if (!SHA256_PATTERN.test(hash)) throw invalidInput('manifest id must be a SHA-256: 64 hex digits');
    const served = await this.manifests.signedManifest(hash);
    response.setHeader('Cache-Control', MANIFEST_CACHE_CONTROL);
    response.setHeader('ETag', served.etag);
    if (matches(request.headers['if-none-match'], served.etag)) {
      response.status(304).end();
      return;
    }
    response.status(200).type('application/json').send(served.body);
  }

  @Get('keys')
  @Public('manifest signing keys')
  @ApiOkResponse({ type: SigningKeysResponse, description: 'The Ed25519 public keys manifests are signed with; pin them once' })
  keys(@Res({ passthrough: true }) response: Response): SigningKeysResponse {
    response.setHeader('Cache-Control', KEYS_CACHE_CONTROL);
    return { keys: this.manifests.publicKeys() };
  }
}
