// Test helpers for the device request parsers: not exported from the library's index.
import { DeviceRequestError, type DeviceRequest } from '../device-request';

export const MD5 = '0123456789abcdef0123456789abcdef';
export const SHA = 'f'.repeat(64);

export function manyParameters(count: number): Record<string, string> {
  return Object.fromEntries([['cpuArch', 'armv8'], ...Array.from({ length: count - 1 }, (_, i) => [`k${i}`, 'v'])]);
}

/** The DeviceRequestError `action` throws; fails the test when it throws nothing or something else. */
export function thrown(action: () => unknown): DeviceRequestError {
  try {
    action();
  } catch (error) {
    if (error instanceof DeviceRequestError) return error;
    throw error;
  }
  throw new Error('expected a DeviceRequestError, nothing was thrown');
}

/** The parts of a request that are plain data, for comparisons. */
export function plain(request: DeviceRequest) {
  return {
    cpuArch: request.cpuArch,
    attributes: { ...request.attributes },
    attributesLower: Object.fromEntries(request.attributesLower),
    payloadType: request.payloadType,
    cohort: request.cohort,
    deviceId: request.deviceId,
    installed: Object.fromEntries([...request.installed].map(([key, i]) => [key, `${i.component}@${i.version.raw}`])),
    hashes: [...request.hashes].sort(),
    decisionEtags: request.decisionEtags,
  };
}
