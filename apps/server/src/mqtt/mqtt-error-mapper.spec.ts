import { DEVICE_REQUEST_ERROR_CODES, DeviceRequestError } from '@app/resolver';
import { DomainError, type DomainErrorCode } from '../common/domain-error';
import { toErrorOffer } from './mqtt-error-mapper';

describe(toErrorOffer.name, () => {
  // A Record, so a new domain error code does not compile until it has its offer status here too.
  const statuses: Record<DomainErrorCode, number> = {
    InvalidInput: 400,
    ParameterTooLong: 414,
    NotFound: 404,
    Conflict: 409,
    PayloadTooLarge: 413,
    Unauthenticated: 401,
    Forbidden: 403,
    Unavailable: 503,
    ColdStorage: 503,
    InsufficientStorage: 507,
  };

  it.each(Object.entries(statuses))('answers %s with a %i offer that says why', (code, status) => {
    const offer = toErrorOffer(new DomainError(code as DomainErrorCode, 'what went wrong'), 'r-1');
    expect(offer).toMatchObject({ requestId: 'r-1', status, message: 'what went wrong' });
    // Every 503 tells the device when to ask again; nothing else does.
    expect(offer.retryAfter).toBe(status === 503 ? 5 : undefined);
  });

  it('tells the device the wait the error names', () => {
    expect(toErrorOffer(new DomainError('ColdStorage', 'restoring', { retryAfterSeconds: 120 }), 'r-1')).toEqual({
      requestId: 'r-1',
      status: 503,
      message: 'restoring',
      retryAfter: 120,
    });
  });

  it('answers a database refusing connections with a 503 offer and retryAfter', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toErrorOffer(refused, 'r-1')).toEqual({
      requestId: 'r-1',
      status: 503,
      message: expect.stringContaining('try again in a few seconds'),
      retryAfter: 5,
    });
  });

  it.each(DEVICE_REQUEST_ERROR_CODES)('answers a check refused with %s: 414 for an over-long parameter, else 400', (code) => {
    const offer = toErrorOffer(new DeviceRequestError(code, 'the check is wrong', 'site', 'from-the-check'), undefined);
    expect(offer).toEqual({
      requestId: 'from-the-check',
      status: code === 'parameter-too-long' ? 414 : 400,
      message: 'the check is wrong',
    });
  });

  it('echoes the requestId it is given when the refusal carries none', () => {
    expect(toErrorOffer(new DeviceRequestError('bad-payload', 'no'), 'r-2').requestId).toBe('r-2');
    expect(toErrorOffer(new DeviceRequestError('bad-payload', 'no'), undefined).requestId).toBeUndefined();
  });

  it('answers anything else with a 500 offer and no details', () => {
    expect(toErrorOffer(new TypeError('secret internals'), 'r-3')).toEqual({
      requestId: 'r-3',
      status: 500,
      message: 'internal error; the appliance log has the details',
    });
  });
});
