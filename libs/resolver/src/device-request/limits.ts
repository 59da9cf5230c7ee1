import { DeviceRequestError } from './errors';

/** Bounds on what a device may send, so that one request costs a bounded amount of work. */
export interface RequestLimits {
  /** Query parameters in total, reserved and unknown keys included (MQTT: attributes plus top-level fields). */
  maxParameters: number;
  maxKeyLength: number;
  maxValueLength: number;
  /** Entries of `installed`, each at most `maxValueLength` characters. */
  maxInstalled: number;
  /** Tokens in `If-None-Match`, ignored ones included. */
  maxHashes: number;
}

/** The limits used when a caller does not override them. */
export const DEFAULT_REQUEST_LIMITS: Readonly<RequestLimits> = Object.freeze({
  maxParameters: 64,
  maxKeyLength: 64,
  maxValueLength: 256,
  maxInstalled: 64,
  maxHashes: 64,
});

export function withDefaults(limits: Partial<RequestLimits> | undefined): RequestLimits {
  return limits === undefined ? DEFAULT_REQUEST_LIMITS : { ...DEFAULT_REQUEST_LIMITS, ...limits };
}

export function checkValueLength(key: string, value: string, limit: RequestLimits): void {
  if (value.length > limit.maxValueLength) {
    throw new DeviceRequestError('parameter-too-long', `the value of "${key}" is longer than ${limit.maxValueLength} characters`, key);
  }
}
