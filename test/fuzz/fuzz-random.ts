/** A seeded pseudo-random source (mulberry32): the same seed gives the same fuzz cases on every run. */
export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)];
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

/** The seed of a fuzz run: fixed, so CI is reproducible; FUZZ_SEED explores other cases locally. */
export function fuzzSeed(fallback: number): number {
  const given = Number(process.env.FUZZ_SEED);
  return Number.isInteger(given) ? given : fallback;
}

/** A C0 control character other than tab, line feed and carriage return (all of which are refused, NUL first). */
export function forbiddenCharacter(random: SeededRandom): string {
  return String.fromCharCode(random.pick([0, 0, 0, 1, 7, 8, 0x0b, 0x0c, 0x1b, 0x1f]));
}

/** `[[…1…]]` or `{"a":{…}}`, `levels` deep, as JSON text. */
export function deepJson(levels: number, kind: 'array' | 'object'): string {
  return kind === 'array' ? `${'['.repeat(levels)}1${']'.repeat(levels)}` : `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
}
