import { forbiddenCharacterIn } from '../text-rules';
import { cohortOf, type DeviceRequest, type InstalledDeclaration, type PayloadType } from './request';
import { DeviceRequestError } from './errors';
import {
  AttributeCollector,
  badPayloadType,
  clip,
  isRecord,
  MD5_HEX,
  parseCohort,
  parseComponentName,
  parseDeviceId,
  parseInstalledVersion,
  parsePayloadType,
  RESERVED,
  SHA256_HEX,
} from './fields';
import { checkValueLength, withDefaults, type RequestLimits } from './limits';

const MAX_REQUEST_ID_LENGTH = 128;

/**
 * The `requestId` of an MQTT check when it is one the offer can echo: a string of 1 to 128 characters
 * without control characters. Undefined otherwise: an over-long id cut short, or an empty one, would
 * match no request.
 */
export function mqttRequestIdOf(payload: unknown): string | undefined {
  const requestId = isRecord(payload) ? payload.requestId : undefined;
  return typeof requestId === 'string' && requestId.length > 0 && requestId.length <= MAX_REQUEST_ID_LENGTH && !forbiddenCharacterIn(requestId) ? requestId : undefined;
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
  const requestId = mqttRequestIdOf(body);
  try {
    if (!body) throw new DeviceRequestError('bad-payload', 'the check must be a JSON object');
    if (!requestId) {
      throw new DeviceRequestError('bad-payload', `requestId must be a string of 1 to ${MAX_REQUEST_ID_LENGTH} characters, without control characters`, 'requestId');
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
    throw new DeviceRequestError('too-many-parameters', `at most ${limit.maxParameters} attributes and fields are allowed, got ${entries.length + fields}`);
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
    throw new DeviceRequestError('too-many-installed', `installed may list at most ${limit.maxInstalled} components, got ${raw.length}`, 'installed');
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
      ['md5', md5, MD5_HEX],
      ['sha256', sha256, SHA256_HEX],
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
