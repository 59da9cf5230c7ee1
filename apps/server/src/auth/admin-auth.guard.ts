import { applyDecorators, Injectable, SetMetadata, UseGuards, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { bearerToken } from '../common/bearer-token';
import { DomainError } from '../common/domain-error';
import type { ApiKeyScope } from './api-key.entity';
import { ApiKeyService, scopeAllows, type AuthenticatedKey } from './api-key.service';

const REQUIRED_SCOPE = 'ota:required-scope';

export type AuthenticatedRequest = Request & { apiKey?: AuthenticatedKey };

@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly apiKeys: ApiKeyService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const required = this.reflector.getAllAndOverride<ApiKeyScope>(REQUIRED_SCOPE, [context.getHandler(), context.getClass()]) ?? 'admin';
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    const token = bearerToken(request.headers.authorization);
    if (!token) throw new DomainError('Unauthenticated', 'missing API key: send Authorization: Bearer <key>');
    const key = await this.apiKeys.authenticate(token);
    if (!key) throw new DomainError('Unauthenticated', 'unknown or revoked API key');
    if (!scopeAllows(key.scope, required)) {
      throw new DomainError('Forbidden', `this API key has scope "${key.scope}"; this operation needs "${required}"`);
    }
    request.apiKey = key;
    return true;
  }
}

/** Marks an admin API route: a valid API key with at least `scope` is required. */
export function RequireScope(scope: ApiKeyScope) {
  return applyDecorators(
    SetMetadata(REQUIRED_SCOPE, scope),
    UseGuards(AdminAuthGuard),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, unknown or revoked API key' }),
    ApiForbiddenResponse({ description: `The API key's scope is below "${scope}"` }),
  );
}
