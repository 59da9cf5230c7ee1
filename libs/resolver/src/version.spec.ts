import { compareVersionStrings, parseVersion, VersionParseError } from './version';

describe('parseVersion', () => {
  it.each([
    ['5.6.9', '5.6.14'],
    ['5.6.14', '5.6.30'],
    ['5.6.30', '6.15.008'],
    ['1.9', '1.10'],
    ['v1.2.3', '1.2.4'],
    ['2.0.0-rc.1', '2.0.0-rc.2'],
    ['2.0.0-rc.2', '2.0.0-rc.10'],
    ['2.0.0-alpha', '2.0.0-alpha.1'],
    ['2.0.0-alpha.beta', '2.0.0-beta'],
    ['2.0.0-rc.1', '2.0.0'],
    ['1.2.3.4', '1.2.3.5'],
    ['1.2', '1.2.0.1'],
  ])('orders %s before %s', (lower, higher) => {
    expect(compareVersionStrings(lower, higher)).toBeLessThan(0);
    expect(compareVersionStrings(higher, lower)).toBeGreaterThan(0);
  });

  it.each([
    ['1.0', '1.0.0'],
    ['v1.0', '1'],
    ['6.15.008', '6.15.8'],
    ['01.002', '1.2.0'],
    ['1.0.0+build.7', '1.0.0'],
  ])('treats %s and %s as the same version', (a, b) => {
    expect(compareVersionStrings(a, b)).toBe(0);
    expect(parseVersion(a).key).toBe(parseVersion(b).key);
  });

  it('keeps the vendor spelling', () => {
    expect(parseVersion('6.15.008').raw).toBe('6.15.008');
  });

  it.each(['', 'latest', '1..2', '1.2.', '.1', 'v', '1.2.3-', '1/2', '../1.0', '1.0 ', 'x'.repeat(65), '1.2.3.4.5.6.7.8.9'])('rejects %j with a parse error', (input) => {
    expect(() => parseVersion(input)).toThrow(VersionParseError);
  });
});
