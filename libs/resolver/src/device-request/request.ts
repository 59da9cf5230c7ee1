import { createHash } from 'node:crypto';
import type { Version } from '../version';

/** `fullPayload`: a tar.gz with the binaries; `metadataOnly`: the JSON description alone. */
export type PayloadType = 'fullPayload' | 'metadataOnly';

/** A version the device says it has installed (`installed=ipModule@5.6.14`, or MQTT `installed[].version`). */
export interface InstalledDeclaration {
  /** As the device spelled it. */
  readonly component: string;
  readonly version: Version;
}

/**
 * A device check, the same whichever transport it came over. Each transport has its parser:
 * {@link parseDeviceQuery} (HTTP) and {@link parseMqttCheck} (MQTT).
 */
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

/**
 * The cohort of a device: the first 4 bytes of SHA-256(deviceId) as an unsigned big-endian integer, modulo 100.
 * Stable for a device across rollouts, so a device that was in a phase stays in the next one.
 */
export function cohortOf(deviceId: string): number {
  return createHash('sha256').update(deviceId, 'utf8').digest().readUInt32BE(0) % 100;
}
