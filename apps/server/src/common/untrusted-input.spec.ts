import { DomainError } from './domain-error';
import { assertSafeJson, parseSafeJson } from './untrusted-input';

function refusal(action: () => unknown): string | undefined {
  try {
    action();
  } catch (error) {
    if (error instanceof DomainError && error.code === 'InvalidInput') return error.message;
    throw error;
  }
  return undefined;
}

const nestedArrays = (levels: number): unknown => JSON.parse(`${'['.repeat(levels)}${']'.repeat(levels)}`);

describe(assertSafeJson.name, () => {
  it.each<[string, unknown]>([
    ['a flat object', { component: 'os', version: '1.0.0' }],
    ['free text with tabs and line breaks', { detail: 'line 1\n\tline 2\r\n' }],
    ['non-ASCII text', { notes: 'Größe ✓ 漢字' }],
    ['primitives', 5],
    ['exactly the depth limit', nestedArrays(8)],
  ])('accepts %s', (_name, value) => {
    expect(refusal(() => assertSafeJson(value, 8, 'request body'))).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['one level too deep', nestedArrays(9), 'request body is nested deeper than 8 levels'],
    ['200,000 levels deep, without overflowing the stack', nestedArrays(200_000), 'request body is nested deeper than 8 levels'],
    ['a NUL byte in a field', { detail: 'a\u0000b' }, 'request body: detail contains a NUL byte'],
    ['a NUL byte in a nested field', { attributes: { site: 'plant\u00007' } }, 'request body: attributes.site contains a NUL byte'],
    ['a NUL byte in an array item', { addrs: ['/ip4/1.2.3.4', 'x\u0000'] }, 'request body: addrs[1] contains a NUL byte'],
    ['a NUL byte in a key', { 'si\u0000te': 'x' }, 'request body: a key contains a NUL byte'],
    ['a NUL byte in a nested key', { attributes: { 'si\u0000te': 'x' } }, 'request body: a key of attributes contains a NUL byte'],
    ['an escape character', { detail: '\u001b[31m' }, 'request body: detail contains the control character U+001B'],
    ['a NUL byte in a top-level string', 'a\u0000', 'request body contains a NUL byte'],
    ['the first problem in document order', { a: 'x\u0001', b: 'y\u0000' }, 'request body: a contains the control character U+0001'],
  ])('refuses %s', (_name, value, message) => {
    expect(refusal(() => assertSafeJson(value, 8, 'request body'))).toBe(message);
  });

  it('shortens a long key in the message', () => {
    const key = 'k'.repeat(100);
    expect(refusal(() => assertSafeJson({ [key]: '\u0000' }, 8, 'the check'))).toBe(`the check: ${'k'.repeat(64)}… contains a NUL byte`);
  });
});

describe(parseSafeJson.name, () => {
  it('answers the parsed value', () => {
    expect(parseSafeJson('{"requestId":"r-1"}', 8, 'the check')).toEqual({ requestId: 'r-1' });
  });

  it.each([
    ['{', 'the check is not valid JSON'],
    ['', 'the check is not valid JSON'],
    ['{"a":"\u0000"}', 'the check is not valid JSON'],
    ['{"a":"\\u0000"}', 'the check: a contains a NUL byte'],
    [`${'['.repeat(9)}${']'.repeat(9)}`, 'the check is nested deeper than 8 levels'],
  ])('refuses %j', (text, message) => {
    expect(refusal(() => parseSafeJson(text, 8, 'the check'))).toBe(message);
  });
});
