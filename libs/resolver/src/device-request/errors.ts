/** Every reason a device request can be refused. */
export const DEVICE_REQUEST_ERROR_CODES = [
  'missing-cpu-arch',
  'bad-payload-type',
  'too-many-parameters',
  'parameter-too-long',
  'bad-parameter',
  'duplicate-parameter',
  'bad-installed',
  'too-many-installed',
  'bad-cohort',
  'bad-device-id',
  'too-many-hashes',
  'bad-payload',
] as const;

/** Why a device request was refused. */
export type DeviceRequestErrorCode = (typeof DEVICE_REQUEST_ERROR_CODES)[number];

/**
 * A malformed device request. It says what is wrong in the request's own terms; each transport
 * decides how to tell the device (an HTTP status, an MQTT error offer).
 */
export class DeviceRequestError extends Error {
  constructor(
    readonly code: DeviceRequestErrorCode,
    message: string,
    /** The offending parameter, as the device spelled it. */
    readonly parameter?: string,
    /** MQTT: the check's requestId when it was valid, so the error reply can be correlated. */
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'DeviceRequestError';
  }
}
