// A device check, parsed per transport into one DeviceRequest: HTTP query (GET /package) and
// MQTT check today; a new transport adds its parser beside them, on the shared fields and limits.
export { cohortOf, type DeviceRequest, type InstalledDeclaration, type PayloadType } from './request';
export { DEVICE_REQUEST_ERROR_CODES, DeviceRequestError, type DeviceRequestErrorCode } from './errors';
export { DEFAULT_REQUEST_LIMITS, type RequestLimits } from './limits';
export { parseDeviceQuery, parseIfNoneMatch } from './http-query';
export { mqttRequestIdOf, parseMqttCheck } from './mqtt-check';
