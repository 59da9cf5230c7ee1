import { cohortOf } from './request';

describe(cohortOf.name, () => {
  // Expected values computed with `printf %s <id> | sha256sum`: first 8 hex digits, as an integer, mod 100.
  it.each([
    ['device-0001', 26],
    ['plant-7:gw-12', 14],
    ['a', 10],
    ['c', 3],
    ['dev-1', 98],
  ])('puts %s in cohort %i', (deviceId, cohort) => {
    expect(cohortOf(deviceId)).toBe(cohort);
  });
});
