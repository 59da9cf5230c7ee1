import { Global, Module } from '@nestjs/common';
import { AdminAuthGuard } from './admin-auth.guard';
import { ApiKeyService } from './api-key.service';
import { KeysController } from './keys.controller';

@Global()
@Module({ controllers: [KeysController], providers: [ApiKeyService, AdminAuthGuard], exports: [ApiKeyService, AdminAuthGuard] })
export class AuthModule {}
