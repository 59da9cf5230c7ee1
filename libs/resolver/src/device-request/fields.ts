// The fields every transport's parser reads alike: attributes, payload type, cohort, device id,
// installed components and hashes.
import { forbiddenCharacterIn } from '../text-rules';
import { MAX_VERSION_LENGTH, tryParseVersion, type Version } from '../version';
import type { PayloadType } from './request';
import { DeviceRequestError } from './errors';
import type { RequestLimits } from './limits';

/** Keys that are fields of the request rather than attributes (lower-case). */
export const RESERVED = new Set(['payloadtype', 'cohort', 'installed', 'deviceid']);
const PAYLOAD_TYPES: ReadonlyMap<string, PayloadType> = new Map([
  ['fullpayload', 'fullPayload'],
  ['metadataonly', 'metadataOnly'],
]);
const COHORT = /^\d{1,2}$/;
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** A lower-case MD5 or SHA-256 of an installed binary. */
export const INSTALLED_HASH = /^(?:[0-9a-f]{32}|[0-9a-f]{64})$/;
export const MD5_HEX = /^[0-9a-f]{32}$/i;
export const SHA256_HEX = /^[0-9a-f]{64}$/i;

/** Collects attributes, refusing over-long and case-insensitively repeated keys. */
export class AttributeCollector {
  private readonly seen = new Set<string>();
  private readonly original: Record<string, string> = Object.create(null) as Record<string, string>;
  private readonly lower = new Map<string, string>();
  private cpuArch = '';

  constructor(private readonly limit: RequestLimits) {}

  /** Checks a key and returns it lower-cased. */
  claimKey(key: string): string {
    const forbidden = forbiddenCharacterIn(key);
    if (forbidden) throw new DeviceRequestError('bad-parameter', `a parameter name ${forbidden}`, key);
    if (key.length > this.limit.maxKeyLength) {
      throw new DeviceRequestError('parameter-too-long', `parameter name "${clip(key)}…" is longer than ${this.limit.maxKeyLength} characters`, key);
    }
    const lower = key.toLowerCase();
    if (this.seen.has(lower)) {
      throw new DeviceRequestError('duplicate-parameter', `parameter "${key}" is given more than once (names are case-insensitive)`, key);
    }
    this.seen.add(lower);
    return lower;
  }

  add(key: string, lower: string, value: string): void {
    // An empty name selects nothing and matches no selector.
    if (key === '') return;
    this.original[key] = value;
    this.lower.set(lower, value.toLowerCase());
    if (lower === 'cpuarch') this.cpuArch = value;
  }

  finish(): { cpuArch: string; original: Record<string, string>; lower: Map<string, string> } {
    if (this.cpuArch === '') throw new DeviceRequestError('missing-cpu-arch', 'cpuArch is required (e.g. cpuArch=armv8)', 'cpuArch');
    return { cpuArch: this.cpuArch, original: this.original, lower: this.lower };
  }
}

export function parsePayloadType(key: string, value: string): PayloadType {
  const type = PAYLOAD_TYPES.get(value.toLowerCase());
  if (!type) throw badPayloadType(key, value);
  return type;
}

export function badPayloadType(key: string, value?: string): DeviceRequestError {
  const got = value === undefined ? '' : `, got "${clip(value)}"`;
  return new DeviceRequestError('bad-payload-type', `${key} must be fullPayload or metadataOnly${got}`, key);
}

export function parseCohort(key: string, value: unknown): number {
  if (typeof value !== 'string' || !COHORT.test(value)) {
    throw new DeviceRequestError('bad-cohort', `${key} must be an integer from 0 to 99, got ${JSON.stringify(clip(String(value)))}`, key);
  }
  return Number(value);
}

export function parseDeviceId(key: string, value: string): string {
  if (!DEVICE_ID.test(value)) {
    throw new DeviceRequestError('bad-device-id', `${key} must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"`, key);
  }
  return value;
}

export function parseComponentName(value: unknown, where: string, limit: RequestLimits): string {
  if (typeof value !== 'string' || value.length > limit.maxKeyLength || !COMPONENT_NAME.test(value)) {
    throw new DeviceRequestError('bad-installed', `${where}: the component name must be 1 to ${limit.maxKeyLength} characters of A-Z, a-z, 0-9, ".", "_" or "-"`, 'installed');
  }
  return value;
}

export function parseInstalledVersion(value: unknown, where: string): Version {
  const version = typeof value === 'string' ? tryParseVersion(value) : undefined;
  if (!version) {
    throw new DeviceRequestError('bad-installed', `${where}: the version must be like 1.2.3, v5.6.14 or 2.0.0-rc.1 (at most ${MAX_VERSION_LENGTH} characters)`, 'installed');
  }
  return version;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** At most 64 characters of what the device sent, for a message. */
export function clip(text: string): string {
  return text.length > 64 ? text.slice(0, 64) : text;
}
