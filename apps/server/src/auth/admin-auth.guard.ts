import { applyDecorators, Injectable, SetMetadata, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Request } from 'express';
import { bearerToken } from '../common/bearer-token';
import { DomainError } from '../common/domain-error';
import type { ApiKeyScope } from './api-key.entity';
import { ApiKeyService, scopeAllows, type AuthenticatedKey } from './api-key.service';

const REQUIRED_SCOPE = 'ota:required-scope';
/** Metadata key of `Public`: its value names the route's callers. */
export const PUBLIC_ROUTE = 'ota:public-route';

export type AuthenticatedRequest = Request & { apiKey?: AuthenticatedKey };

/**
 * Guards every framework route (registered as APP_GUARD): an admin API key is required, with the
 * scope the route names in `RequireScope`, "admin" when it names none. A route that forgets to say
 * anything is closed, not open. Device, probe and scrape routes opt out by name with `Public`.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  constructor(
    private readonly apiKeys: ApiKeyService,
    private readonly reflector: Reflector,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<string>(PUBLIC_ROUTE, targets) !== undefined) return true;
    const required = this.reflector.getAllAndOverride<ApiKeyScope>(REQUIRED_SCOPE, targets) ?? 'admin';
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
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, unknown or revoked API key' }),
    ApiForbiddenResponse({ description: `The API key's scope is below "${scope}"` }),
  );
}

/**
 * Opts a route out of the admin API key. `callers` names who calls it (a device, a probe, a
 * scraper), which is why it needs no key; admin-routes.e2e-spec.ts holds the list of them.
 */
export function Public(callers: string) {
  return SetMetadata(PUBLIC_ROUTE, callers);
}
