import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AdminAuthGuard } from './admin-auth.guard';
import { ApiKeyRepository } from './api-key.repository';
import { ApiKeyService } from './api-key.service';
import { KeysController } from './keys.controller';

// Every route needs an admin API key unless it says otherwise (see AdminAuthGuard).
@Global()
@Module({
  controllers: [KeysController],
  providers: [ApiKeyRepository, ApiKeyService, AdminAuthGuard, { provide: APP_GUARD, useClass: AdminAuthGuard }],
  exports: [ApiKeyService, AdminAuthGuard],
})
export class AuthModule {}
