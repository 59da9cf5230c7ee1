import { DeviceRequestError } from '@app/resolver';
import { DomainError, type DomainErrorCode } from './domain-error';
import { jobErrorAction, type JobErrorAction } from './job-error-mapper';

describe(jobErrorAction.name, () => {
  // A Record, so a new domain error code does not compile until it is decided here too.
  const actions: Record<DomainErrorCode, JobErrorAction> = {
    InvalidInput: 'fail',
    ParameterTooLong: 'fail',
    NotFound: 'fail',
    Conflict: 'fail',
    PayloadTooLarge: 'fail',
    Unauthenticated: 'fail',
    Forbidden: 'fail',
    Unavailable: 'retry',
    ColdStorage: 'retry',
    InsufficientStorage: 'retry',
  };

  it.each(Object.entries(actions))('on %s: %s', (code, action) => {
    expect(jobErrorAction(new DomainError(code as DomainErrorCode, 'what went wrong'))).toBe(action);
  });

  it('retries a database that refuses connections', () => {
    expect(jobErrorAction(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }))).toBe('retry');
  });

  it('retries an error nobody named (a bug, a write the database refused): it may pass', () => {
    expect(jobErrorAction(new Error('injected failure'))).toBe('retry');
  });

  it('fails a refused request at once', () => {
    expect(jobErrorAction(new DeviceRequestError('bad-payload', 'no'))).toBe('fail');
  });
});
