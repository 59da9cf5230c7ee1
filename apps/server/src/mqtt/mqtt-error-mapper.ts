import { DeviceRequestError } from '@app/resolver';
import { asDomainError, INTERNAL_ERROR_MESSAGE } from '../common/as-domain-error';
import { httpStatusOf } from '../common/http-error-mapper';
import { DATABASE_RETRY_AFTER_SECONDS } from '../database/driver-errors';

/**
 * The offer a check gets when it cannot be answered: HTTP's status vocabulary, as docs/mqtt.md
 * describes it. Devices parse this shape: a field is added, never renamed.
 */
export interface ErrorOffer {
  /** The check's, when it was valid, so the device can match the answer to its question. */
  requestId?: string;
  status: number;
  message: string;
  /**
   * Seconds after which asking again may succeed: on every 503 (the wait the error names, else the
   * database outage's), since MQTT has no Retry-After header.
   */
  retryAfter?: number;
}

/**
 * The MQTT transport's one error mapping: every check that fails gets an offer saying why, never
 * silence. A refused check is a 4xx; a store the answer needs being unreachable is a 503 with
 * `retryAfter`; a fault of the appliance is a 500 whose details go to the log.
 * @param requestId the check's requestId when it was valid (a refused check's own wins).
 */
export function toErrorOffer(error: unknown, requestId: string | undefined): ErrorOffer {
  const echoed = error instanceof DeviceRequestError ? (error.requestId ?? requestId) : requestId;
  const domain = asDomainError(error);
  if (!domain) return { requestId: echoed, status: 500, message: INTERNAL_ERROR_MESSAGE };
  const status = httpStatusOf(domain.code);
  const retryAfter = domain.details?.retryAfterSeconds ?? (status === 503 ? DATABASE_RETRY_AFTER_SECONDS : undefined);
  return { requestId: echoed, status, message: domain.message, ...(retryAfter !== undefined && { retryAfter }) };
}
