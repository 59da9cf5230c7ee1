import { DEVICE_REQUEST_ERROR_CODES, DeviceRequestError } from '@app/resolver';
import { BadRequestException, UnauthorizedException } from '@nestjs/common';
import { DomainError, type DomainErrorCode } from './domain-error';
import { toHttpError } from './http-error-mapper';

describe(toHttpError.name, () => {
  // A Record, so a new domain error code does not compile until it has its status here too.
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

  it.each(Object.entries(statuses))('answers %s with %i and the JSON error body', (code, status) => {
    const { status: answered, body } = toHttpError(new DomainError(code as DomainErrorCode, 'what went wrong'));
    expect(answered).toBe(status);
    expect(body).toEqual({ statusCode: status, error: expect.any(String), message: 'what went wrong' });
    expect(body.error).not.toBe('Error');
  });

  it.each(DEVICE_REQUEST_ERROR_CODES)('answers a device request refused with %s: 414 for an over-long parameter, else 400', (code) => {
    const { status, body } = toHttpError(new DeviceRequestError(code, 'the request is wrong', 'site'));
    const expected = code === 'parameter-too-long' ? 414 : 400;
    expect(status).toBe(expected);
    expect(body).toEqual({ statusCode: expected, error: expected === 414 ? 'URI Too Long' : 'Bad Request', message: 'the request is wrong' });
  });

  it('adds the headers that go with a status', () => {
    expect(toHttpError(new DomainError('Unavailable', 'later', { retryAfterSeconds: 7 })).headers).toEqual({ 'Retry-After': '7' });
    expect(toHttpError(new DomainError('PayloadTooLarge', 'too big')).headers).toEqual({ Connection: 'close' });
    expect(toHttpError(new DomainError('Unauthenticated', 'who?')).headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
    expect(toHttpError(new UnauthorizedException('who?')).headers).toEqual({ 'WWW-Authenticate': 'Bearer' });
    expect(toHttpError(new DomainError('NotFound', 'none')).headers).toEqual({});
  });

  it('keeps the framework’s own exceptions and their messages', () => {
    expect(toHttpError(new BadRequestException(['a must be a string', 'b is missing']))).toEqual({
      status: 400,
      body: { statusCode: 400, error: 'Bad Request', message: ['a must be a string', 'b is missing'] },
      headers: {},
    });
  });

  it.each([
    ['entity.parse.failed', 400, 'request body is not valid JSON'],
    ['entity.too.large', 413, 'request body is too large'],
    ['charset.unsupported', 415, 'unsupported charset "LATIN-9"'],
  ])('answers a body parser’s %s with %i', (type, status, message) => {
    const error = Object.assign(new Error(type === 'charset.unsupported' ? message : 'raw parser message'), { status, type });
    expect(toHttpError(error)).toMatchObject({ status, body: { statusCode: status, message } });
  });

  it('answers the database’s full disk with 507, saying nothing was stored', () => {
    const diskFull = Object.assign(new Error('could not extend file'), { driverError: { code: '53100' } });
    expect(toHttpError(diskFull)).toMatchObject({ status: 507, body: { error: 'Insufficient Storage', message: expect.stringContaining('nothing was stored') } });
  });

  it('answers a database refusing connections with 503 and Retry-After: the client repeats, it is not at fault', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(toHttpError(refused)).toEqual({
      status: 503,
      body: { statusCode: 503, error: 'Service Unavailable', message: expect.stringContaining('try again in a few seconds') },
      headers: { 'Retry-After': '5' },
    });
  });

  it('answers anything else with 500 and no details', () => {
    expect(toHttpError(new TypeError('secret internals'))).toEqual({
      status: 500,
      body: { statusCode: 500, error: 'Internal Server Error', message: 'internal error; the appliance log has the details' },
      headers: {},
    });
    expect(toHttpError('a string thrown')).toMatchObject({ status: 500 });
  });
});
