import { forbiddenCharacterIn } from '../text-rules';
import { cohortOf, type DeviceRequest, type InstalledDeclaration, type PayloadType } from './request';
import { DeviceRequestError } from './errors';
import { AttributeCollector, clip, INSTALLED_HASH, parseCohort, parseComponentName, parseDeviceId, parseInstalledVersion, parsePayloadType } from './fields';
import { checkValueLength, DEFAULT_REQUEST_LIMITS, withDefaults, type RequestLimits } from './limits';

const DECISION_ETAG = /^d-[0-9a-f]{1,64}$/;
const WEAK_PREFIX = /^w\//i;
const QUOTES = /^"|"$/g;
// Generous room per If-None-Match token (W/, quotes, a 64-digit hash, a comma and spaces).
const MAX_CHARS_PER_ETAG = 96;

/**
 * Reads a `GET /package` query and its `If-None-Match` header.
 *
 * Reserved keys (case-insensitive): `payloadType`, `cohort` (0–99), `installed` (`component@version,…`) and
 * `deviceId`; every other key is an attribute. An explicit `cohort` wins over the one derived from `deviceId`.
 * @throws {@link DeviceRequestError} naming the parameter at fault.
 */
export function parseDeviceQuery(query: Record<string, string | string[] | undefined>, ifNoneMatch: string | undefined, limits?: Partial<RequestLimits>): DeviceRequest {
  const limit = withDefaults(limits);
  const keys = Object.keys(query);
  if (keys.length > limit.maxParameters) {
    throw new DeviceRequestError('too-many-parameters', `at most ${limit.maxParameters} query parameters are allowed, got ${keys.length}`);
  }
  const attributes = new AttributeCollector(limit);
  let payloadType: PayloadType = 'fullPayload';
  let cohort: number | undefined;
  let deviceId: string | undefined;
  let installed = new Map<string, InstalledDeclaration>();

  for (const key of keys) {
    const value: unknown = query[key];
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      throw new DeviceRequestError('duplicate-parameter', `parameter "${clip(key)}" is given more than once`, key);
    }
    if (typeof value !== 'string') {
      throw new DeviceRequestError('bad-parameter', `parameter "${clip(key)}" must be a plain key=value pair`, key);
    }
    const lower = attributes.claimKey(key);
    const forbidden = forbiddenCharacterIn(value);
    if (forbidden) throw new DeviceRequestError('bad-parameter', `parameter "${clip(key)}" ${forbidden}`, key);
    if (lower === 'installed') {
      installed = parseInstalledList(key, value, limit);
      continue;
    }
    checkValueLength(key, value, limit);
    switch (lower) {
      case 'payloadtype':
        payloadType = parsePayloadType(key, value);
        break;
      case 'cohort':
        cohort = parseCohort(key, value);
        break;
      case 'deviceid':
        deviceId = parseDeviceId(key, value);
        break;
      default:
        attributes.add(key, lower, value);
    }
  }

  const { hashes, decisionEtags } = parseIfNoneMatch(ifNoneMatch, limit.maxHashes);
  const { cpuArch, original, lower } = attributes.finish();
  return {
    cpuArch,
    attributes: original,
    attributesLower: lower,
    payloadType,
    cohort: cohort ?? (deviceId === undefined ? undefined : cohortOf(deviceId)),
    deviceId,
    installed,
    hashes,
    decisionEtags,
  };
}

/**
 * Reads an `If-None-Match` header: comma-separated tokens, each optionally `W/`-prefixed and quoted, in any case,
 * with stray whitespace and a trailing comma tolerated. MD5 (32 hex) and SHA-256 (64 hex) tokens are installed
 * binaries, `d-<hex>` tokens are decision ETags; anything else (`*` included) is ignored.
 * @throws {@link DeviceRequestError} `too-many-hashes` above `maxHashes` tokens.
 */
export function parseIfNoneMatch(header: string | undefined, maxHashes: number = DEFAULT_REQUEST_LIMITS.maxHashes): { hashes: string[]; decisionEtags: string[] } {
  if (header === undefined || header === '') return { hashes: [], decisionEtags: [] };
  if (header.length > maxHashes * MAX_CHARS_PER_ETAG) {
    throw new DeviceRequestError('too-many-hashes', `If-None-Match is longer than ${maxHashes * MAX_CHARS_PER_ETAG} characters`, 'If-None-Match');
  }
  const hashes = new Set<string>();
  const decisionEtags = new Set<string>();
  let count = 0;
  for (const raw of header.split(',')) {
    const token = raw.trim().replace(WEAK_PREFIX, '').replace(QUOTES, '').trim().toLowerCase();
    if (token === '') continue;
    if (++count > maxHashes) {
      throw new DeviceRequestError('too-many-hashes', `If-None-Match may list at most ${maxHashes} entity tags`, 'If-None-Match');
    }
    if (INSTALLED_HASH.test(token)) hashes.add(token);
    else if (DECISION_ETAG.test(token)) decisionEtags.add(token);
  }
  return { hashes: [...hashes], decisionEtags: [...decisionEtags] };
}

/** `installed=component@version,…`, each entry bounded like a value and the whole bounded before it is split. */
function parseInstalledList(key: string, value: string, limit: RequestLimits): Map<string, InstalledDeclaration> {
  // Checked before splitting so an enormous value costs nothing.
  if (value.length > limit.maxInstalled * (limit.maxValueLength + 1)) {
    throw new DeviceRequestError('parameter-too-long', `the value of "${key}" is longer than ${limit.maxInstalled * (limit.maxValueLength + 1)} characters`, key);
  }
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length > limit.maxInstalled) {
    throw new DeviceRequestError('too-many-installed', `${key} may list at most ${limit.maxInstalled} components, got ${entries.length}`, key);
  }
  const installed = new Map<string, InstalledDeclaration>();
  for (const entry of entries) {
    if (entry.length > limit.maxValueLength) {
      throw new DeviceRequestError('parameter-too-long', `an entry of "${key}" is longer than ${limit.maxValueLength} characters`, key);
    }
    const at = entry.lastIndexOf('@');
    if (at < 0) throw new DeviceRequestError('bad-installed', `${key}: "${clip(entry)}" is not component@version`, key);
    const component = parseComponentName(entry.slice(0, at), `${key}: "${clip(entry)}"`, limit);
    const version = parseInstalledVersion(entry.slice(at + 1), `${key}: "${clip(entry)}"`);
    if (installed.has(component.toLowerCase())) throw new DeviceRequestError('bad-installed', `${key}: ${component} is listed twice`, key);
    installed.set(component.toLowerCase(), { component, version });
  }
  return installed;
}
