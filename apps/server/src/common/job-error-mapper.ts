import { asDomainError } from './as-domain-error';
import type { DomainErrorCode } from './domain-error';

/** What a job driver does with an error a job threw: run the job again after a backoff, or fail it for good now. */
export type JobErrorAction = 'retry' | 'fail';

function actionOf(code: DomainErrorCode): JobErrorAction {
  switch (code) {
    // The same work would meet the same answer: retrying only delays the failure.
    case 'InvalidInput':
    case 'ParameterTooLong':
    case 'NotFound':
    case 'Conflict':
    case 'PayloadTooLarge':
    case 'Unauthenticated':
    case 'Forbidden':
      return 'fail';
    // A store that is down, restoring from cold storage or short of space may serve the next attempt.
    case 'Unavailable':
    case 'ColdStorage':
    case 'InsufficientStorage':
      return 'retry';
  }
}

/**
 * The job transport's one error mapping, used by every job driver (BullMQ and the in-process timer).
 * An error that is no domain error (a bug, or a database refusing a write) is retried: it may pass,
 * and a job that keeps failing is recorded as failed once its attempts run out.
 */
export function jobErrorAction(error: unknown): JobErrorAction {
  const domain = asDomainError(error);
  return domain ? actionOf(domain.code) : 'retry';
}
