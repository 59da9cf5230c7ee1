import { ArgumentsHost, Catch, Logger, type ExceptionFilter } from '@nestjs/common';
import type { Request, Response } from 'express';
import { toHttpError } from './http-error-mapper';

/**
 * Answers every error the framework's routes raise, as {@link toHttpError} maps it (the mapping
 * the GET /package fast path shares). A 5xx's details go to the log, not the client.
 */
@Catch()
export class HttpErrorFilter implements ExceptionFilter {
  private readonly logger = new Logger('HttpError');

  catch(exception: unknown, host: ArgumentsHost): void {
    const context = host.switchToHttp();
    const response = context.getResponse<Response>();
    const request = context.getRequest<Request>();
    const { status, body, headers } = toHttpError(exception);

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
}
