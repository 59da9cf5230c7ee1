import { applyDecorators, createParamDecorator, type ExecutionContext } from '@nestjs/common';
import { ApiSecurity } from '@nestjs/swagger';
import type { Request } from 'express';
import { bearerToken } from './bearer-token';

/** The OpenAPI security scheme of a device's own token (declared in bootstrap's DocumentBuilder). */
export const DEVICE_TOKEN_SCHEME = 'deviceToken';

/**
 * The bearer token a device sent, if any. Read through a custom decorator rather than
 * `@Headers('authorization')`, which would add a required Authorization header parameter to the
 * OpenAPI document: credentials are described by a security scheme, and here they are optional.
 */
export const DeviceToken = createParamDecorator((_data: unknown, context: ExecutionContext): string | undefined =>
  bearerToken(context.switchToHttp().getRequest<Request>().headers.authorization),
);

/**
 * Documents a device route: it takes the device's token when DEVICE_AUTH=token and nothing
 * otherwise, so the requirement has an empty alternative (OpenAPI's way of saying optional).
 */
export function ApiOptionalDeviceToken(): MethodDecorator & ClassDecorator {
  return applyDecorators(ApiSecurity(DEVICE_TOKEN_SCHEME), ApiSecurity({}));
}
