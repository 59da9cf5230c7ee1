import { PackageAnswerCache, type EncodedAnswer } from './package-answer-cache';

const answer = (etag: string, body = 'x'.repeat(100)): EncodedAnswer => ({ status: 200, etag, headers: ['ETag', etag], body });
const notModified = (etag: string): EncodedAnswer => ({ status: 304, etag, headers: ['ETag', etag] });

describe('PackageAnswerCache', () => {
  const catalog = { revision: '1' };

  it('answers what was cached for the same key, generation and window only', () => {
    const cache = new PackageAnswerCache(1024 * 1024);
    expect(cache.get(catalog, 0, 'cpuArch=armv8 ')).toBeUndefined();
    const cached = answer('"d-1"');
    cache.set(catalog, 0, 'cpuArch=armv8 ', cached);
    expect(cache.get(catalog, 0, 'cpuArch=armv8 ')).toBe(cached);
    expect(cache.get(catalog, 0, 'cpuArch=armv8 "abc"')).toBeUndefined();
    expect(cache.get(catalog, 1, 'cpuArch=armv8 ')).toBeUndefined();
    expect(cache.get(catalog, 0, 'cpuArch=armv8 ')).toBeUndefined();
  });

  it('empties itself for a new catalog, and ignores answers computed from the old one', () => {
    const cache = new PackageAnswerCache(1024 * 1024);
    cache.get(catalog, 0, 'a');
    cache.set(catalog, 0, 'a', answer('"d-1"'));
    const changed = { revision: '2' };
    expect(cache.get(changed, 0, 'a')).toBeUndefined();
    expect(cache.size).toEqual({ entries: 0, answers: 0, bytes: 0 });
    // A check that read the old catalog and finished after the change.
    cache.set(catalog, 0, 'a', answer('"d-1"'));
    expect(cache.get(changed, 0, 'a')).toBeUndefined();
    expect(cache.shared(changed, 0, 200, '"d-1"')).toBeUndefined();
  });

  it('shares one encoded answer between requests that led to the same decision', () => {
    const cache = new PackageAnswerCache(1024 * 1024);
    cache.get(catalog, 0, 'a');
    const first = answer('"d-1"');
    cache.set(catalog, 0, 'deviceId=1 ', first);
    expect(cache.shared(catalog, 0, 200, '"d-1"')).toBe(first);
    expect(cache.shared(catalog, 0, 304, '"d-1"')).toBeUndefined();
    cache.set(catalog, 0, 'deviceId=2 ', first);
    cache.set(catalog, 0, 'deviceId=3 ', notModified('"d-1"'));
    expect(cache.size.entries).toBe(3);
    expect(cache.size.answers).toBe(2);
  });

  it('stays within its bytes, dropping the oldest keys not asked for again, then their answers', () => {
    const cache = new PackageAnswerCache(20_000);
    cache.get(catalog, 0, 'warm');
    for (let i = 0; i < 100; i++) {
      cache.set(catalog, 0, `key-${i}`, answer(`"d-${i}"`));
      cache.get(catalog, 0, 'key-0'); // kept recently used
      expect(cache.size.bytes).toBeLessThanOrEqual(20_000);
    }
    expect(cache.get(catalog, 0, 'key-0')).toBeDefined();
    expect(cache.get(catalog, 0, 'key-1')).toBeUndefined();
    expect(cache.get(catalog, 0, 'key-99')).toBeDefined();
    expect(cache.shared(catalog, 0, 200, '"d-1"')).toBeUndefined();
    expect(cache.size.answers).toBe(cache.size.entries);
  });

  it('keeps a shared answer while any key still points at it', () => {
    const cache = new PackageAnswerCache(16_000);
    cache.get(catalog, 0, 'warm');
    const shared = answer('"d-shared"');
    cache.set(catalog, 0, 'first', shared);
    cache.set(catalog, 0, 'second', shared);
    for (let i = 0; i < 30; i++) {
      cache.set(catalog, 0, `other-${i}`, answer(`"d-${i}"`));
      cache.get(catalog, 0, 'second');
    }
    expect(cache.get(catalog, 0, 'first')).toBeUndefined();
    expect(cache.get(catalog, 0, 'second')).toBe(shared);
    expect(cache.shared(catalog, 0, 200, '"d-shared"')).toBe(shared);
  });

  it('does not cache an answer that would take more than a sixteenth of it', () => {
    const cache = new PackageAnswerCache(16_000);
    cache.get(catalog, 0, 'warm');
    cache.set(catalog, 0, 'big', answer('"d-big"', 'x'.repeat(1_000)));
    expect(cache.get(catalog, 0, 'big')).toBeUndefined();
    cache.set(catalog, 0, 'small', notModified('"d-small"'));
    expect(cache.get(catalog, 0, 'small')).toBeDefined();
  });

  it('caches nothing when its size is 0', () => {
    const cache = new PackageAnswerCache(0);
    expect(cache.enabled).toBe(false);
    cache.get(catalog, 0, 'a');
    cache.set(catalog, 0, 'a', notModified('"d-1"'));
    expect(cache.get(catalog, 0, 'a')).toBeUndefined();
  });
});
