import { HttpException, HttpStatus } from '@nestjs/common';
import { STATUS_CODES } from 'node:http';
import { asDomainError, INTERNAL_ERROR_MESSAGE } from './as-domain-error';
import type { DomainErrorCode } from './domain-error';

/** The JSON body of every error answer. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

/** An error as HTTP answers it: status, JSON body and the headers that go with that status. */
export interface HttpError {
  status: number;
  body: ErrorBody;
  headers: Record<string, string>;
}

export function errorBody(statusCode: number, message: string | string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/** The HTTP status of each domain error; MQTT offers carry the same status (docs/mqtt.md), so this table is theirs too. */
export function httpStatusOf(code: DomainErrorCode): number {
  switch (code) {
    case 'InvalidInput':
      return HttpStatus.BAD_REQUEST;
    case 'ParameterTooLong':
      return HttpStatus.URI_TOO_LONG;
    case 'NotFound':
      return HttpStatus.NOT_FOUND;
    case 'Conflict':
      return HttpStatus.CONFLICT;
    case 'PayloadTooLarge':
      return HttpStatus.PAYLOAD_TOO_LARGE;
    case 'Unauthenticated':
      return HttpStatus.UNAUTHORIZED;
    case 'Forbidden':
      return HttpStatus.FORBIDDEN;
    case 'Unavailable':
    case 'ColdStorage':
      return HttpStatus.SERVICE_UNAVAILABLE;
    case 'InsufficientStorage':
      return HttpStatus.INSUFFICIENT_STORAGE;
  }
}

/** Errors raised by Express' body parsers carry a status and a type. */
function isBodyParserError(error: unknown): error is { status: number; type: string; message: string } {
  return typeof error === 'object' && error !== null && typeof (error as { status?: unknown }).status === 'number' && typeof (error as { type?: unknown }).type === 'string';
}

/**
 * The HTTP transport's one error mapping, shared by the framework's exception filter and the
 * GET /package fast path: every error becomes the JSON shape clients rely on
 * ({statusCode, error, message}). Bad input is a 4xx; only a fault of the appliance is a 500.
 */
export function toHttpError(error: unknown): HttpError {
  const headers: Record<string, string> = {};
  if (error instanceof HttpException) {
    const status = error.getStatus();
    const payload = error.getResponse();
    const message = typeof payload === 'string' ? payload : ((payload as { message?: string | string[] }).message ?? error.message);
    if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
    return { status, body: errorBody(status, message), headers };
  }
  if (isBodyParserError(error) && error.status >= 400 && error.status < 500) {
    const message = error.type === 'entity.parse.failed' ? 'request body is not valid JSON' : error.type === 'entity.too.large' ? 'request body is too large' : error.message;
    return { status: error.status, body: errorBody(error.status, message), headers };
  }
  const domain = asDomainError(error);
  if (!domain) return { status: HttpStatus.INTERNAL_SERVER_ERROR, body: errorBody(HttpStatus.INTERNAL_SERVER_ERROR, INTERNAL_ERROR_MESSAGE), headers };
  const status = httpStatusOf(domain.code);
  if (domain.details?.retryAfterSeconds !== undefined) headers['Retry-After'] = String(domain.details.retryAfterSeconds);
  if (status === HttpStatus.PAYLOAD_TOO_LARGE) headers['Connection'] = 'close';
  if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
  return { status, body: errorBody(status, domain.message), headers };
}
