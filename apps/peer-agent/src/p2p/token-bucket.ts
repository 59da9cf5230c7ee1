import type { SendPacer } from './frame-codec';

export interface Clock {
  now(): number;
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const realClock: Clock = {
  now: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(new Error('aborted'));
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(new Error('aborted'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

/**
 * Upload rate limit shared by every peer stream (`--upload-limit`, bytes/s).
 *
 * Each `take` reserves its bytes at once, letting the balance go negative, and then waits until
 * the balance would have been paid back. Reservations are therefore served in arrival order (no
 * stream can starve the others) and the long-run rate never exceeds `rate`; `burst` bytes may go
 * out at once after a quiet period.
 */
export class TokenBucket implements SendPacer {
  private tokens: number;
  private updatedAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number = Math.max(rate, 64 * 1024),
    private readonly clock: Clock = realClock,
  ) {
    if (!(rate > 0)) throw new Error('rate must be positive');
    this.tokens = burst;
    this.updatedAt = clock.now();
  }

  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.rate);
    this.updatedAt = now;
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.rate) * 1000;
    try {
      await this.clock.sleep(waitMs, signal);
    } catch (error) {
      this.tokens += bytes; // not sent: give the reservation back
      throw error;
    }
  }
}
