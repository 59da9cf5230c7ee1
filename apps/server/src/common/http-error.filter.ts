import { ArgumentsHost, Catch, HttpException, HttpStatus, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../database/driver-errors';
import { DATABASE_DISK_FULL_MESSAGE, isDatabaseDiskFull } from './database-disk-full';
import { DomainError, type DomainErrorCode } from './domain-error';

export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string | string[];
}

function statusOf(code: DomainErrorCode): number {
  switch (code) {
    case 'InvalidInput':
      return HttpStatus.BAD_REQUEST;
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
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { status?: unknown }).status === 'number' &&
    typeof (error as { type?: unknown }).type === 'string'
  );
}

export function errorBody(statusCode: number, message: string | string[]): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

/**
 * Maps every error to the JSON shape clients rely on ({statusCode, error, message}). Bad input
 * is a 4xx; only a fault of the appliance is a 500, and its details go to the log, not the client.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const response = context.getResponse<Response>();
    const request = context.getRequest<Request>();
    const { status, body, headers } = this.describe(exception);

    if (status >= 500) this.logger.error({ err: exception, path: request.path }, 'request failed');
    if (response.headersSent) {
      // The body already started streaming: the only honest signal left is to cut the connection.
      response.destroy();
      return;
    }
    for (const [name, value] of Object.entries(headers)) response.setHeader(name, value);
    // An unread request body (a rejected upload) is not worth receiving: close instead of draining it.
    if (!request.complete) response.setHeader('Connection', 'close');
    if (!response.getHeader('Cache-Control')) response.setHeader('Cache-Control', 'no-store');
    response.status(status).json(body);
  }

  private describe(exception: unknown): { status: number; body: ErrorBody; headers: Record<string, string> } {
    const headers: Record<string, string> = {};
    if (exception instanceof DomainError) {
      const status = statusOf(exception.code);
      if (exception.details?.retryAfterSeconds !== undefined) headers['Retry-After'] = String(exception.details.retryAfterSeconds);
      if (status === HttpStatus.PAYLOAD_TOO_LARGE) headers['Connection'] = 'close';
      if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
      return { status, body: errorBody(status, exception.message), headers };
    }
    if (exception instanceof HttpException) {
      const status = exception.getStatus();
      const payload = exception.getResponse();
      const message =
        typeof payload === 'string'
          ? payload
          : ((payload as { message?: string | string[] }).message ?? exception.message);
      if (status === HttpStatus.UNAUTHORIZED) headers['WWW-Authenticate'] = 'Bearer';
      return { status, body: errorBody(status, message), headers };
    }
    if (isBodyParserError(exception) && exception.status >= 400 && exception.status < 500) {
      const message =
        exception.type === 'entity.parse.failed'
          ? 'request body is not valid JSON'
          : exception.type === 'entity.too.large'
            ? 'request body is too large'
            : exception.message;
      return { status: exception.status, body: errorBody(exception.status, message), headers };
    }
    if (isDatabaseDiskFull(exception)) {
      return { status: HttpStatus.INSUFFICIENT_STORAGE, body: errorBody(HttpStatus.INSUFFICIENT_STORAGE, DATABASE_DISK_FULL_MESSAGE), headers };
    }
    if (isDatabaseUnavailable(exception)) {
      // An outage is not a fault of the request: tell the client to repeat it. (A refused connection
      // may also be the object store's, hence the neutral message.)
      headers['Retry-After'] = String(DATABASE_RETRY_AFTER_SECONDS);
      const message = 'a service the appliance depends on cannot be reached right now; try again in a few seconds';
      return { status: HttpStatus.SERVICE_UNAVAILABLE, body: errorBody(HttpStatus.SERVICE_UNAVAILABLE, message), headers };
    }
    return { status: 500, body: errorBody(500, 'internal error; the appliance log has the details'), headers };
  }
}
