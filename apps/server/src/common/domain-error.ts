/**
 * Errors the services throw, in the domain's words. Each transport maps every code once, in an
 * exhaustive switch: HTTP in http-error-mapper.ts (the framework's filter and the GET /package fast
 * path), MQTT in mqtt/mqtt-error-mapper.ts, jobs in job-error-mapper.ts.
 */
export type DomainErrorCode =
  | 'InvalidInput'
  /** A name or value of the request is longer than its limit (a device check's parameter). */
  | 'ParameterTooLong'
  | 'NotFound'
  | 'Conflict'
  | 'PayloadTooLarge'
  | 'Unauthenticated'
  | 'Forbidden'
  | 'Unavailable'
  | 'ColdStorage'
  | 'InsufficientStorage';

export class DomainError extends Error {
  constructor(
    readonly code: DomainErrorCode,
    message: string,
    readonly details?: { retryAfterSeconds?: number },
  ) {
    super(message);
    this.name = code;
  }
}

export const invalidInput = (message: string) => new DomainError('InvalidInput', message);
export const notFound = (message: string) => new DomainError('NotFound', message);
export const conflict = (message: string) => new DomainError('Conflict', message);
export const payloadTooLarge = (message: string) => new DomainError('PayloadTooLarge', message);
/** The appliance has no room for what it was asked to store (a full disk, a quota, a full S3 server); nothing was stored. */
export const insufficientStorage = (message: string) => new DomainError('InsufficientStorage', message);
