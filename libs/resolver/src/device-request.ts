import { createHash } from 'node:crypto';
import { forbiddenCharacterIn } from './text-rules';
import { MAX_VERSION_LENGTH, tryParseVersion, type Version } from './version';

/** `fullPayload`: a tar.gz with the binaries; `metadataOnly`: the JSON description alone. */
export type PayloadType = 'fullPayload' | 'metadataOnly';

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

/** A version the device says it has installed (`installed=ipModule@5.6.14`, or MQTT `installed[].version`). */
export interface InstalledDeclaration {
  /** As the device spelled it. */
  readonly component: string;
  readonly version: Version;
}

/** A device check, the same whether it came over HTTP or MQTT. Build it with {@link parseDeviceQuery} or {@link parseMqttCheck}. */
export interface DeviceRequest {
  /** As sent. */
  readonly cpuArch: string;
  /** Every non-reserved parameter with the device's own spelling (cpuArch and os included). Null prototype. */
  readonly attributes: Readonly<Record<string, string>>;
  /** The same attributes, keys and values lower-cased, for matching. */
  readonly attributesLower: ReadonlyMap<string, string>;
  readonly payloadType: PayloadType;
  /** 0–99; absent when the device sent none and has no deviceId, which keeps it out of partial rollout phases. */
  readonly cohort?: number;
  readonly deviceId?: string;
  /** Lower-case component name → declared installed version. */
  readonly installed: ReadonlyMap<string, InstalledDeclaration>;
  /** Distinct lower-case MD5 or SHA-256 hex of installed binaries. */
  readonly hashes: readonly string[];
  /** Distinct lower-case `d-<hex>` tokens: decision ETags a cache holds (see `decisionEtag`). */
  readonly decisionEtags: readonly string[];
  /** MQTT only: echoed in the offer. */
  readonly requestId?: string;
}

/** Why a device request was refused. */
export type DeviceRequestErrorCode =
  | 'missing-cpu-arch'
  | 'bad-payload-type'
  | 'too-many-parameters'
  | 'parameter-too-long'
  | 'bad-parameter'
  | 'duplicate-parameter'
  | 'bad-installed'
  | 'too-many-installed'
  | 'bad-cohort'
  | 'bad-device-id'
  | 'too-many-hashes'
  | 'bad-payload';

/** A malformed device request. `httpStatus` is 414 for an over-long parameter, 400 otherwise. */
export class DeviceRequestError extends Error {
  readonly httpStatus: 400 | 414;

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
    this.httpStatus = code === 'parameter-too-long' ? 414 : 400;
  }
}

const RESERVED = new Set(['payloadtype', 'cohort', 'installed', 'deviceid']);
const PAYLOAD_TYPES: ReadonlyMap<string, PayloadType> = new Map([
  ['fullpayload', 'fullPayload'],
  ['metadataonly', 'metadataOnly'],
]);
const COHORT = /^\d{1,2}$/;
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const COMPONENT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HASH = /^(?:[0-9a-f]{32}|[0-9a-f]{64})$/;
const MD5 = /^[0-9a-f]{32}$/i;
const SHA256 = /^[0-9a-f]{64}$/i;
const DECISION_ETAG = /^d-[0-9a-f]{1,64}$/;
const WEAK_PREFIX = /^w\//i;
const QUOTES = /^"|"$/g;
// Generous room per If-None-Match token (W/, quotes, a 64-digit hash, a comma and spaces).
const MAX_CHARS_PER_ETAG = 96;
const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The cohort of a device: the first 4 bytes of SHA-256(deviceId) as an unsigned big-endian integer, modulo 100.
 * Stable for a device across rollouts, so a device that was in a phase stays in the next one.
 */
export function cohortOf(deviceId: string): number {
  return createHash('sha256').update(deviceId, 'utf8').digest().readUInt32BE(0) % 100;
}

/**
 * Reads a `GET /package` query and its `If-None-Match` header.
 *
 * Reserved keys (case-insensitive): `payloadType`, `cohort` (0–99), `installed` (`component@version,…`) and
 * `deviceId`; every other key is an attribute. An explicit `cohort` wins over the one derived from `deviceId`.
 * @throws {@link DeviceRequestError} naming the parameter at fault.
 */
export function parseDeviceQuery(
  query: Record<string, string | string[] | undefined>,
  ifNoneMatch: string | undefined,
  limits?: Partial<RequestLimits>,
): DeviceRequest {
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
export function parseIfNoneMatch(
  header: string | undefined,
  maxHashes: number = DEFAULT_REQUEST_LIMITS.maxHashes,
): { hashes: string[]; decisionEtags: string[] } {
  if (header === undefined || header === '') return { hashes: [], decisionEtags: [] };
  if (header.length > maxHashes * MAX_CHARS_PER_ETAG) {
    throw new DeviceRequestError(
      'too-many-hashes',
      `If-None-Match is longer than ${maxHashes * MAX_CHARS_PER_ETAG} characters`,
      'If-None-Match',
    );
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
    if (HASH.test(token)) hashes.add(token);
    else if (DECISION_ETAG.test(token)) decisionEtags.add(token);
  }
  return { hashes: [...hashes], decisionEtags: [...decisionEtags] };
}

/**
 * Reads an MQTT `ota/v1/devices/<deviceId>/check` body:
 * `{ requestId, attributes: {…}, installed?: [{ component, version?, md5?, sha256? }], cohort?, payloadType? }`.
 * The same limits apply as over HTTP; attribute values may be strings, finite numbers or booleans.
 * `deviceId` is the authenticated MQTT client id, so the cohort is always derived from it: a `cohort` in the
 * body is validated but cannot move the device into another cohort.
 * @throws {@link DeviceRequestError}, carrying the requestId when it was valid.
 */
export function parseMqttCheck(payload: unknown, deviceId: string, limits?: Partial<RequestLimits>): DeviceRequest {
  const body = isRecord(payload) ? payload : undefined;
  const requestId =
    typeof body?.requestId === 'string' &&
    body.requestId.length > 0 &&
    body.requestId.length <= MAX_REQUEST_ID_LENGTH &&
    !forbiddenCharacterIn(body.requestId)
      ? body.requestId
      : undefined;
  try {
    if (!body) throw new DeviceRequestError('bad-payload', 'the check must be a JSON object');
    if (!requestId) {
      throw new DeviceRequestError(
        'bad-payload',
        `requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters, without control characters`,
        'requestId',
      );
    }
    return parseMqttBody(body, requestId, deviceId, withDefaults(limits));
  } catch (error) {
    if (error instanceof DeviceRequestError && requestId !== undefined && error.requestId === undefined) {
      throw new DeviceRequestError(error.code, error.message, error.parameter, requestId);
    }
    throw error;
  }
}

function parseMqttBody(body: Record<string, unknown>, requestId: string, deviceIdInput: string, limit: RequestLimits): DeviceRequest {
  const deviceId = parseDeviceId('deviceId', deviceIdInput);
  if (!isRecord(body.attributes)) throw new DeviceRequestError('bad-payload', 'attributes must be an object', 'attributes');
  const entries = Object.entries(body.attributes);
  const fields = ['cohort', 'payloadType', 'installed'].filter((f) => body[f] !== undefined).length;
  if (entries.length + fields > limit.maxParameters) {
    throw new DeviceRequestError(
      'too-many-parameters',
      `at most ${limit.maxParameters} attributes and fields are allowed, got ${entries.length + fields}`,
    );
  }
  const attributes = new AttributeCollector(limit);
  for (const [key, raw] of entries) {
    const lower = attributes.claimKey(key);
    if (RESERVED.has(lower)) {
      throw new DeviceRequestError('bad-payload', `attributes.${clip(key)} is reserved: send it as a top-level field`, key);
    }
    if (typeof raw !== 'string' && typeof raw !== 'boolean' && !(typeof raw === 'number' && Number.isFinite(raw))) {
      throw new DeviceRequestError('bad-payload', `attributes.${clip(key)} must be a string, number or boolean`, key);
    }
    const value = String(raw);
    const forbidden = forbiddenCharacterIn(value);
    if (forbidden) throw new DeviceRequestError('bad-payload', `attributes.${clip(key)} ${forbidden}`, key);
    checkValueLength(key, value, limit);
    attributes.add(key, lower, value);
  }

  let payloadType: PayloadType = 'fullPayload';
  if (body.payloadType !== undefined) {
    if (typeof body.payloadType !== 'string') throw badPayloadType('payloadType');
    payloadType = parsePayloadType('payloadType', body.payloadType);
  }
  if (body.cohort !== undefined) parseCohort('cohort', typeof body.cohort === 'number' ? String(body.cohort) : body.cohort);

  const { installed, hashes } = parseMqttInstalled(body.installed, limit);
  const { cpuArch, original, lower } = attributes.finish();
  return {
    cpuArch,
    attributes: original,
    attributesLower: lower,
    payloadType,
    cohort: cohortOf(deviceId),
    deviceId,
    installed,
    hashes,
    decisionEtags: [],
    requestId,
  };
}

function parseMqttInstalled(raw: unknown, limit: RequestLimits): { installed: Map<string, InstalledDeclaration>; hashes: string[] } {
  const installed = new Map<string, InstalledDeclaration>();
  const hashes = new Set<string>();
  if (raw === undefined) return { installed, hashes: [] };
  if (!Array.isArray(raw)) throw new DeviceRequestError('bad-installed', 'installed must be an array', 'installed');
  if (raw.length > limit.maxInstalled) {
    throw new DeviceRequestError(
      'too-many-installed',
      `installed may list at most ${limit.maxInstalled} components, got ${raw.length}`,
      'installed',
    );
  }
  const components = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const where = `installed[${i}]`;
    if (!isRecord(entry)) throw new DeviceRequestError('bad-installed', `${where} must be an object`, 'installed');
    const component = parseComponentName(entry.component, where, limit);
    if (components.has(component.toLowerCase())) {
      throw new DeviceRequestError('bad-installed', `${where}: ${component} is listed twice`, 'installed');
    }
    components.add(component.toLowerCase());
    const { version, md5, sha256 } = entry;
    if (version === undefined && md5 === undefined && sha256 === undefined) {
      throw new DeviceRequestError('bad-installed', `${where} needs a version, md5 or sha256`, 'installed');
    }
    if (version !== undefined) installed.set(component.toLowerCase(), { component, version: parseInstalledVersion(version, where) });
    for (const [name, hash, pattern] of [
      ['md5', md5, MD5],
      ['sha256', sha256, SHA256],
    ] as const) {
      if (hash === undefined) continue;
      if (typeof hash !== 'string' || !pattern.test(hash)) {
        throw new DeviceRequestError('bad-installed', `${where}.${name} must be ${name === 'md5' ? 32 : 64} hex digits`, 'installed');
      }
      hashes.add(hash.toLowerCase());
    }
  });
  return { installed, hashes: [...hashes] };
}

/** Collects attributes, refusing over-long and case-insensitively repeated keys. */
class AttributeCollector {
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
      throw new DeviceRequestError(
        'parameter-too-long',
        `parameter name "${clip(key)}…" is longer than ${this.limit.maxKeyLength} characters`,
        key,
      );
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

function withDefaults(limits: Partial<RequestLimits> | undefined): RequestLimits {
  return limits === undefined ? DEFAULT_REQUEST_LIMITS : { ...DEFAULT_REQUEST_LIMITS, ...limits };
}

function checkValueLength(key: string, value: string, limit: RequestLimits): void {
  if (value.length > limit.maxValueLength) {
    throw new DeviceRequestError('parameter-too-long', `the value of "${key}" is longer than ${limit.maxValueLength} characters`, key);
  }
}

function parsePayloadType(key: string, value: string): PayloadType {
  const type = PAYLOAD_TYPES.get(value.toLowerCase());
  if (!type) throw badPayloadType(key, value);
  return type;
}

function badPayloadType(key: string, value?: string): DeviceRequestError {
  const got = value === undefined ? '' : `, got "${clip(value)}"`;
  return new DeviceRequestError('bad-payload-type', `${key} must be fullPayload or metadataOnly${got}`, key);
}

function parseCohort(key: string, value: unknown): number {
  if (typeof value !== 'string' || !COHORT.test(value)) {
    throw new DeviceRequestError('bad-cohort', `${key} must be an integer from 0 to 99, got ${JSON.stringify(clip(String(value)))}`, key);
  }
  return Number(value);
}

function parseDeviceId(key: string, value: string): string {
  if (!DEVICE_ID.test(value)) {
    throw new DeviceRequestError('bad-device-id', `${key} must be 1 to 128 characters of A-Z, a-z, 0-9, ".", "_", ":" or "-"`, key);
  }
  return value;
}

function parseInstalledList(key: string, value: string, limit: RequestLimits): Map<string, InstalledDeclaration> {
  // Checked before splitting so an enormous value costs nothing.
  if (value.length > limit.maxInstalled * (limit.maxValueLength + 1)) {
    throw new DeviceRequestError(
      'parameter-too-long',
      `the value of "${key}" is longer than ${limit.maxInstalled * (limit.maxValueLength + 1)} characters`,
      key,
    );
  }
  const entries = value
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  if (entries.length > limit.maxInstalled) {
    throw new DeviceRequestError(
      'too-many-installed',
      `${key} may list at most ${limit.maxInstalled} components, got ${entries.length}`,
      key,
    );
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

function parseComponentName(value: unknown, where: string, limit: RequestLimits): string {
  if (typeof value !== 'string' || value.length > limit.maxKeyLength || !COMPONENT_NAME.test(value)) {
    throw new DeviceRequestError(
      'bad-installed',
      `${where}: the component name must be 1 to ${limit.maxKeyLength} characters of A-Z, a-z, 0-9, ".", "_" or "-"`,
      'installed',
    );
  }
  return value;
}

function parseInstalledVersion(value: unknown, where: string): Version {
  const version = typeof value === 'string' ? tryParseVersion(value) : undefined;
  if (!version) {
    throw new DeviceRequestError(
      'bad-installed',
      `${where}: the version must be like 1.2.3, v5.6.14 or 2.0.0-rc.1 (at most ${MAX_VERSION_LENGTH} characters)`,
      'installed',
    );
  }
  return version;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function clip(text: string): string {
  return text.length > 64 ? text.slice(0, 64) : text;
}
