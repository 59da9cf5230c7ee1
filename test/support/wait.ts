/**
 * The tests' one polling helper: polls `probe` until `accept` holds or `timeoutMs` passes, and
 * answers the last value either way, for the test to assert on (so a timeout fails on the assertion,
 * showing what was seen last).
 */
export async function until<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 15_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
    value = await probe();
  }
  return value;
}

/**
 * Lets time pass on purpose: for a hold or a cache lifetime to run out, or to show that something
 * does NOT happen within a window. Never to wait for something to happen: poll with `until`.
 */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
