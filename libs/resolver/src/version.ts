import { compareIdentifiers } from 'semver';

/** A vendor version string, parsed for ordering; `raw` is what the vendor wrote and is echoed unchanged. */
export interface Version {
  readonly raw: string;
  /** Numeric dot segments without leading zeros, trailing zero segments dropped (`1.0.0` → `["1"]`). */
  readonly release: readonly string[];
  /** Pre-release identifiers (`2.0.0-rc.1` → `["rc", "1"]`); empty for a release. */
  readonly prerelease: readonly string[];
  /** A canonical form: two strings with the same key are the same version (`v1.0` and `1.0.0`). */
  readonly key: string;
}

export const MAX_VERSION_LENGTH = 64;
const MAX_SEGMENTS = 8;

const VERSION_PATTERN = /^[vV]?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

export class VersionParseError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`"${input.length > 80 ? `${input.slice(0, 80)}…` : input}" is not a version: ${reason}`);
    this.name = 'VersionParseError';
  }
}

function stripLeadingZeros(segment: string): string {
  const stripped = segment.replace(/^0+/, '');
  return stripped === '' ? '0' : stripped;
}

/**
 * Parses a vendor version: an optional `v`, numeric dot segments compared as integers
 * (`6.15.008` is 6.15.8), an optional `-pre.release` ordered by semver rules, and optional
 * `+build` metadata that does not take part in ordering.
 */
export function parseVersion(input: string): Version {
  if (typeof input !== 'string' || input.length === 0) throw new VersionParseError(String(input), 'it is empty');
  if (input.length > MAX_VERSION_LENGTH) throw new VersionParseError(input, `longer than ${MAX_VERSION_LENGTH} characters`);
  const match = VERSION_PATTERN.exec(input);
  if (!match) {
    throw new VersionParseError(input, 'expected dot-separated numbers with an optional v prefix and -prerelease (e.g. 1.2.3, v5.6.14, 2.0.0-rc.1)');
  }
  const segments = match[1].split('.');
  if (segments.length > MAX_SEGMENTS) throw new VersionParseError(input, `more than ${MAX_SEGMENTS} numeric segments`);
  const release = segments.map(stripLeadingZeros);
  while (release.length > 1 && release[release.length - 1] === '0') release.pop();
  const prerelease = match[2] ? match[2].split('.').map((id) => (/^\d+$/.test(id) ? stripLeadingZeros(id) : id)) : [];
  const key = release.join('.') + (prerelease.length > 0 ? `-${prerelease.join('.')}` : '');
  return { raw: input, release, prerelease, key };
}

/** Like {@link parseVersion} but answers undefined instead of throwing. */
export function tryParseVersion(input: string): Version | undefined {
  try {
    return parseVersion(input);
  } catch {
    return undefined;
  }
}

function compareNumeric(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Orders two versions: negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: Version, b: Version): number {
  const length = Math.max(a.release.length, b.release.length);
  for (let i = 0; i < length; i++) {
    const order = compareNumeric(a.release[i] ?? '0', b.release[i] ?? '0');
    if (order !== 0) return order;
  }
  // A release is newer than any of its pre-releases (semver §11.3).
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return b.prerelease.length - a.prerelease.length === 0 ? 0 : a.prerelease.length === 0 ? 1 : -1;
  }
  const ids = Math.max(a.prerelease.length, b.prerelease.length);
  for (let i = 0; i < ids; i++) {
    if (a.prerelease[i] === undefined) return -1;
    if (b.prerelease[i] === undefined) return 1;
    const order = compareIdentifiers(a.prerelease[i], b.prerelease[i]);
    if (order !== 0) return order;
  }
  return 0;
}

/** Compares two version strings; throws {@link VersionParseError} for a string that is not a version. */
export function compareVersionStrings(a: string, b: string): number {
  return compareVersions(parseVersion(a), parseVersion(b));
}
