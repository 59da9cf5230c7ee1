import { DomainError } from '../common/domain-error';

/**
 * What the PostgreSQL driver's errors mean to the appliance. TypeORM wraps a failed query in a
 * QueryFailedError that keeps the driver's error as `driverError`; a failed connection comes
 * unwrapped from the pool. Either way the SQLSTATE (or the socket's errno) is in `code`.
 */

/** SQLSTATE codes the services act on. */
export const UNIQUE_VIOLATION = '23505';
export const FOREIGN_KEY_VIOLATION = '23503';

interface DriverErrorShape {
  code?: unknown;
  message?: unknown;
  driverError?: unknown;
  cause?: unknown;
}

/** The error and what it wraps, outermost first (bounded: a cycle must not hang the error path). */
function chain(error: unknown): DriverErrorShape[] {
  const found: DriverErrorShape[] = [];
  let current: unknown = error;
  while (typeof current === 'object' && current !== null && found.length < 4) {
    const shape = current as DriverErrorShape;
    found.push(shape);
    current = shape.driverError ?? shape.cause;
  }
  return found;
}

/** The SQLSTATE or errno of a database error, from the driver's error when TypeORM wrapped it. */
export function driverErrorCode(error: unknown): string | undefined {
  for (const shape of chain(error)) if (typeof shape.code === 'string') return shape.code;
  return undefined;
}

export const isUniqueViolation = (error: unknown): boolean => driverErrorCode(error) === UNIQUE_VIOLATION;
export const isForeignKeyViolation = (error: unknown): boolean => driverErrorCode(error) === FOREIGN_KEY_VIOLATION;

/** Errors of connecting to a server that is down, restarting or unreachable (a connection lost later is reported by message). */
const UNREACHABLE_ERRNOS = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
/**
 * SQLSTATEs of a server that cannot serve this connection now: shutting down or starting
 * (57P01-57P03), too many connections (53300), and every connection exception (class 08).
 */
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
/** pg and pg-pool report a lost or never-made connection by message only. */
const UNAVAILABLE_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /is not queryable/,
  // 55000 (object not in prerequisite state) at connect: ALTER DATABASE … ALLOW_CONNECTIONS false.
  /is not currently accepting connections/,
  // TypeORM releases a query runner whose connection the server cut; the next query on it says so.
  /^Query runner already released/,
];

/**
 * Whether the error says the database cannot be reached right now (as opposed to a query it
 * refused): the request may succeed when repeated a little later, so it is a 503, not a 500.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  return chain(error).some((shape) => {
    const code = typeof shape.code === 'string' ? shape.code : undefined;
    if (code && (UNREACHABLE_ERRNOS.has(code) || UNAVAILABLE_SQLSTATES.has(code) || code.startsWith('08'))) return true;
    return typeof shape.message === 'string' && UNAVAILABLE_MESSAGES.some((pattern) => pattern.test(shape.message as string));
  });
}

/** Seconds a client is told to wait before repeating a request the database could not serve. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;

/**
 * The error a service throws when the database is unreachable: Unavailable with Retry-After, so
 * the client repeats the request instead of taking it as a fault. Other errors pass unchanged.
 */
export function unavailableIfDatabaseDown(error: unknown, consequence: string): unknown {
  if (!isDatabaseUnavailable(error)) return error;
  return new DomainError('Unavailable', `the database cannot be reached right now; ${consequence}: try again in a few seconds`, {
    retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
  });
}
