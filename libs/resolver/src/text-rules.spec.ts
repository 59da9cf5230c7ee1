import { forbiddenCharacterIn } from './text-rules';

describe(forbiddenCharacterIn.name, () => {
  it.each([
    ['plain text', 'flash error at 0x1000'],
    ['tabs and line breaks', 'line 1\n\tline 2\r\n'],
    ['non-ASCII text', 'Größe ✓ 漢字'],
    ['an empty string', ''],
  ])('allows %s', (_name, text) => {
    expect(forbiddenCharacterIn(text)).toBeUndefined();
  });

  it.each([
    ['a NUL byte', 'a\u0000b', 'contains a NUL byte'],
    ['an escape character', '\u001b[31m', 'contains the control character U+001B'],
    ['a vertical tab', 'a\u000bb', 'contains the control character U+000B'],
    ['a form feed', '\u000c', 'contains the control character U+000C'],
    ['the first forbidden character of several', 'x\u0001\u0000', 'contains the control character U+0001'],
  ])('refuses %s', (_name, text, reason) => {
    expect(forbiddenCharacterIn(text)).toBe(reason);
  });
});
