import { Controller, Get, Header, HttpStatus, Res } from '@nestjs/common';
import { ApiOkResponse, ApiServiceUnavailableResponse, ApiTags } from '@nestjs/swagger';
import type { Response } from 'express';
import { Public } from '../auth/admin-auth.guard';
import { DatabaseHealth } from '../database/database-health';
import { ObjectStore } from '../storage/object-store';
import { StorageSpace } from '../storage/storage-space';

const CHECK_TIMEOUT_MS = 3000;

async function check(name: string, probe: () => Promise<unknown>): Promise<[string, string]> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([probe(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS)))]);
    return [name, 'ok'];
  } catch (error) {
    return [name, error instanceof Error ? error.message : String(error)];
  } finally {
    clearTimeout(timer);
  }
}

@ApiTags('operations')
@Controller()
export class HealthController {
  constructor(
    private readonly database: DatabaseHealth,
    private readonly store: ObjectStore,
    private readonly space: StorageSpace,
  ) {}

  @Get('healthz')
  @Public('liveness probe')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ description: 'The process is up' })
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  @Get('readyz')
  @Public('readiness probe')
  @Header('Cache-Control', 'no-store')
  @ApiOkResponse({ description: 'The database and the object store answer, and DATA_DIR has at least STORAGE_MIN_FREE_BYTES free' })
  @ApiServiceUnavailableResponse({ description: 'A dependency does not answer, or DATA_DIR is short of space; the body says which' })
  async readyz(@Res({ passthrough: true }) response: Response): Promise<{ status: string; checks: Record<string, string> }> {
    const probes = [check('database', () => this.database.ping()), check('storage', () => this.store.ping())];
    if (this.space.watches) probes.push(check('disk', () => this.diskHasRoom()));
    const checks = Object.fromEntries(await Promise.all(probes));
    const ready = Object.values(checks).every((result) => result === 'ok');
    response.status(ready ? HttpStatus.OK : HttpStatus.SERVICE_UNAVAILABLE);
    return { status: ready ? 'ready' : 'not ready', checks };
  }

  private async diskHasRoom(): Promise<void> {
    const shortage = await this.space.shortage();
    if (shortage) throw new Error(shortage);
  }
}
