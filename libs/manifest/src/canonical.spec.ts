import { canonicalJson } from './canonical';
import { keyIdOf } from './keys';

describe(canonicalJson.name, () => {
  it.each([
    ['sorts keys and drops whitespace', { b: 1, a: [true, null, 'x'] }, '{"a":[true,null,"x"],"b":1}'],
    ['sorts nested keys by UTF-16 code units', { z: { é: 1, e: 2, E: 3 } }, '{"z":{"E":3,"e":2,"é":1}}'],
    ['writes numbers the ECMAScript way', { n: [1e21, 0.1, -0, 25165824] }, '{"n":[1e+21,0.1,0,25165824]}'],
    ['escapes only what JSON requires', { s: 'a"b\\c\n\u0001€' }, '{"s":"a\\"b\\\\c\\n\\u0001€"}'],
  ])('%s', (_what, value, text) => {
    expect(canonicalJson(value)).toBe(text);
  });
});

describe(keyIdOf.name, () => {
  it('is the first 16 hex digits of SHA-256 of the raw key', () => {
    // SHA-256 of 32 zero bytes is 66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925.
    expect(keyIdOf(new Uint8Array(32))).toBe('66687aadf862bd77');
  });
});
