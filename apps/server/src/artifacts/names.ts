import { parseVersion, VersionParseError, type Version } from '@app/resolver';
import { invalidInput } from '../common/domain-error';

/** Component and channel names: start with a letter or digit; letters, digits, `.`, `_`, `-`; at most 64. */
export const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function validName(kind: 'component' | 'channel', name: string): string {
  if (!NAME_PATTERN.test(name)) {
    throw invalidInput(`${kind} name "${name.slice(0, 80)}" is invalid: use 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit`);
  }
  return name;
}

export function validVersion(version: string, label = 'version'): Version {
  try {
    return parseVersion(version);
  } catch (error) {
    if (error instanceof VersionParseError) throw invalidInput(`${label}: ${error.message}`);
    throw error;
  }
}

export const SHA256_PATTERN = /^[0-9a-f]{64}$/;
