import { DeviceRequestError, type DeviceRequestErrorCode } from '@app/resolver';
import { DATABASE_RETRY_AFTER_SECONDS, isDatabaseUnavailable } from '../database/driver-errors';
import { DATABASE_DISK_FULL_MESSAGE, isDatabaseDiskFull } from './database-disk-full';
import { DomainError, insufficientStorage, type DomainErrorCode } from './domain-error';

/** What a client is told about a fault of the appliance (an error that is no domain error); the details go to the log. */
export const INTERNAL_ERROR_MESSAGE = 'internal error; the appliance log has the details';

/** What a refused device request is in the domain's words; the parsers' codes stay free of any transport. */
function codeOfDeviceRequest(code: DeviceRequestErrorCode): DomainErrorCode {
  switch (code) {
    case 'parameter-too-long':
      return 'ParameterTooLong';
    case 'missing-cpu-arch':
    case 'bad-payload-type':
    case 'too-many-parameters':
    case 'bad-parameter':
    case 'duplicate-parameter':
    case 'bad-installed':
    case 'too-many-installed':
    case 'bad-cohort':
    case 'bad-device-id':
    case 'too-many-hashes':
    case 'bad-payload':
      return 'InvalidInput';
  }
}

/**
 * The domain error an error stands for, or undefined for a fault of the appliance (a bug, or a
 * failure nobody has named yet), which every transport reports as an internal error. Besides the
 * services' own DomainErrors: a refused device request, and the database's disk filling up or its
 * connections being refused (an outage is not a fault of the request: the client is told to repeat
 * it; a refused connection may also be the object store's, hence the neutral message).
 */
export function asDomainError(error: unknown): DomainError | undefined {
  if (error instanceof DomainError) return error;
  if (error instanceof DeviceRequestError) return new DomainError(codeOfDeviceRequest(error.code), error.message);
  if (isDatabaseDiskFull(error)) return insufficientStorage(DATABASE_DISK_FULL_MESSAGE);
  if (isDatabaseUnavailable(error)) {
    return new DomainError('Unavailable', 'a service the appliance depends on cannot be reached right now; try again in a few seconds', {
      retryAfterSeconds: DATABASE_RETRY_AFTER_SECONDS,
    });
  }
  return undefined;
}
