import { TokenBucket, type Clock } from './token-bucket';

/** A clock that only moves when someone sleeps on it: the test measures "time", not wall time. */
class FakeClock implements Clock {
  t = 0;
  slept: number[] = [];
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.slept.push(ms);
    this.t += ms;
  }
}

describe(TokenBucket.name, () => {
  it('lets a burst through, then holds the long-run rate', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 1000, clock);
    await bucket.take(1000);
    expect(clock.t).toBe(0);
    for (let i = 0; i < 10; i++) await bucket.take(500);
    // 5 000 bytes beyond the burst at 1 000 bytes/s.
    expect(clock.t).toBeCloseTo(5000, 6);
  });

  it('refills while idle, up to the burst only', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 2000, clock);
    await bucket.take(2000);
    clock.t += 60_000; // a long quiet minute
    await bucket.take(2000);
    expect(clock.slept).toEqual([]);
    await bucket.take(1000);
    expect(clock.slept).toEqual([1000]);
  });

  it('shares one budget between concurrent senders, first come first served', async () => {
    const clock: Clock & { t: number } = { t: 0, now: () => clock.t, sleep: () => Promise.resolve() };
    const waits: number[] = [];
    clock.sleep = async (ms) => void waits.push(ms);
    const bucket = new TokenBucket(100, 100, clock);
    await Promise.all([bucket.take(100), bucket.take(100), bucket.take(100)]);
    expect(waits).toEqual([1000, 2000]);
  });

  it('gives back a reservation that was aborted', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket(1000, 1000, clock);
    await bucket.take(1000);
    clock.sleep = () => Promise.reject(new Error('aborted'));
    await expect(bucket.take(5000)).rejects.toThrow('aborted');
    clock.sleep = FakeClock.prototype.sleep.bind(clock);
    await bucket.take(1000);
    expect(clock.t).toBe(1000);
  });
});
