import { ByteBoundedLru } from './manifest-cache';

describe('ByteBoundedLru', () => {
  it('evicts the least recently used values once their sizes exceed the budget', () => {
    const cache = new ByteBoundedLru<string>(100);
    cache.set('a', 'A', 40);
    cache.set('b', 'B', 40);
    expect(cache.get('a')).toBe('A');
    cache.set('c', 'C', 40);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBe('A');
    expect(cache.get('c')).toBe('C');
    expect(cache.bytes).toBe(80);
  });

  it('replaces a value under the same key without counting it twice', () => {
    const cache = new ByteBoundedLru<string>(100);
    cache.set('a', 'first', 60);
    cache.set('a', 'second', 70);
    expect(cache.get('a')).toBe('second');
    expect(cache.bytes).toBe(70);
    expect(cache.size).toBe(1);
  });

  it('does not keep a value larger than the whole budget, and drops what it replaced', () => {
    const cache = new ByteBoundedLru<string>(100);
    cache.set('a', 'small', 10);
    cache.set('a', 'huge', 101);
    expect(cache.get('a')).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });
});
