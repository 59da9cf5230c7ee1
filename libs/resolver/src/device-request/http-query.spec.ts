import { manyParameters, MD5, plain, SHA, thrown } from '../testing/device-requests';
import type { DeviceRequestErrorCode } from './errors';
import { parseDeviceQuery, parseIfNoneMatch } from './http-query';

describe(parseDeviceQuery.name, () => {
  it('reads reserved keys and keeps attributes with their original case', () => {
    const request = parseDeviceQuery(
      {
        CPUArch: 'ARMv8',
        attrGamer: 'Prod',
        Site: 'Plant-7',
        PAYLOADTYPE: 'METADATAONLY',
        Cohort: '05',
        deviceid: 'dev-1',
        Installed: 'ipModule@5.6.14, modemFW@v1.0,',
        empty: undefined,
      },
      undefined,
    );
    expect(plain(request)).toEqual({
      cpuArch: 'ARMv8',
      attributes: { CPUArch: 'ARMv8', attrGamer: 'Prod', Site: 'Plant-7' },
      attributesLower: { cpuarch: 'armv8', attrgamer: 'prod', site: 'plant-7' },
      payloadType: 'metadataOnly',
      cohort: 5,
      deviceId: 'dev-1',
      installed: { ipmodule: 'ipModule@5.6.14', modemfw: 'modemFW@v1.0' },
      hashes: [],
      decisionEtags: [],
    });
  });

  it.each<[string, Record<string, string>, number | undefined]>([
    ['no cohort without a deviceId', { cpuArch: 'x' }, undefined],
    ['the deviceId cohort', { cpuArch: 'x', deviceId: 'dev-1' }, 98],
    ['the explicit cohort over the deviceId one', { cpuArch: 'x', deviceId: 'dev-1', cohort: '0' }, 0],
    ['cohort 99', { cpuArch: 'x', cohort: '99' }, 99],
  ])('gives %s', (_name, query, cohort) => {
    expect(parseDeviceQuery(query, undefined).cohort).toBe(cohort);
  });

  it.each([
    ['fullpayload', 'fullPayload'],
    ['FullPayload', 'fullPayload'],
    ['metadataonly', 'metadataOnly'],
  ])('accepts payloadType=%s', (value, expected) => {
    expect(parseDeviceQuery({ cpuArch: 'x', payloadType: value }, undefined).payloadType).toBe(expected);
  });

  it('defaults to the full payload', () => {
    expect(parseDeviceQuery({ cpuArch: 'x' }, undefined).payloadType).toBe('fullPayload');
  });

  it('accepts exactly the limits', () => {
    const atLimits = {
      ...manyParameters(62),
      ['k'.repeat(64)]: 'v'.repeat(256),
      installed: Array.from({ length: 64 }, (_, i) => `c${i}@1.${i}`).join(','),
    };
    const request = parseDeviceQuery(atLimits, Array.from({ length: 64 }, () => MD5).join(','));
    expect(request.installed.size).toBe(64);
    expect(request.attributesLower.size).toBe(63);
    expect(request.hashes).toEqual([MD5]);
  });

  it('counts unknown keys and honours overridden limits', () => {
    expect(thrown(() => parseDeviceQuery(manyParameters(5), undefined, { maxParameters: 4 })).code).toBe('too-many-parameters');
    expect(parseDeviceQuery(manyParameters(5), undefined, { maxParameters: 5 }).attributesLower.size).toBe(5);
  });

  it.each<[string, Record<string, unknown>, string | undefined, DeviceRequestErrorCode, string]>([
    ['no cpuArch', { os: 'beta' }, undefined, 'missing-cpu-arch', 'cpuArch'],
    ['an empty cpuArch', { cpuArch: '' }, undefined, 'missing-cpu-arch', 'cpuArch'],
    ['an unknown payloadType', { cpuArch: 'x', payloadType: 'zip' }, undefined, 'bad-payload-type', 'payloadType'],
    ['65 parameters', manyParameters(65), undefined, 'too-many-parameters', '64'],
    ['65 parameters counting reserved ones', { ...manyParameters(64), cohort: '1' }, undefined, 'too-many-parameters', '64'],
    ['a 65-character key', { cpuArch: 'x', ['k'.repeat(65)]: 'v' }, undefined, 'parameter-too-long', 'kkkk'],
    ['a 257-character value', { cpuArch: 'x', site: 'v'.repeat(257) }, undefined, 'parameter-too-long', 'site'],
    ['a 257-character reserved value', { cpuArch: 'x', deviceId: 'v'.repeat(257) }, undefined, 'parameter-too-long', 'deviceId'],
    ['a repeated key', { cpuArch: ['a', 'b'] }, undefined, 'duplicate-parameter', 'cpuArch'],
    ['a key repeated in another case', { cpuArch: 'a', CPUARCH: 'b' }, undefined, 'duplicate-parameter', 'CPUARCH'],
    ['a reserved key repeated in another case', { cpuArch: 'a', cohort: '1', COHORT: '2' }, undefined, 'duplicate-parameter', 'COHORT'],
    ['a nested value', { cpuArch: 'a', os: { x: '1' } }, undefined, 'bad-parameter', 'os'],
    ['installed without @', { cpuArch: 'x', installed: 'ipModule' }, undefined, 'bad-installed', 'ipModule'],
    ['installed with a bad version', { cpuArch: 'x', installed: 'ipModule@latest' }, undefined, 'bad-installed', 'ipModule@latest'],
    ['installed without a component', { cpuArch: 'x', installed: '@1.0' }, undefined, 'bad-installed', 'component name'],
    ['installed with a bad component', { cpuArch: 'x', installed: 'ip module@1.0' }, undefined, 'bad-installed', 'ip module@1.0'],
    ['installed naming a component twice', { cpuArch: 'x', installed: 'a@1,A@2' }, undefined, 'bad-installed', 'twice'],
    ['installed with 65 entries', { cpuArch: 'x', installed: Array.from({ length: 65 }, (_, i) => `c${i}@1`).join(',') }, undefined, 'too-many-installed', '64'],
    ['an installed entry over 256 characters', { cpuArch: 'x', installed: `${'c'.repeat(250)}@1.0.0.0` }, undefined, 'parameter-too-long', 'installed'],
    ['an enormous installed value', { cpuArch: 'x', installed: 'a@1,'.repeat(5000) }, undefined, 'parameter-too-long', 'installed'],
    ['cohort 100', { cpuArch: 'x', cohort: '100' }, undefined, 'bad-cohort', 'cohort'],
    ['cohort -1', { cpuArch: 'x', cohort: '-1' }, undefined, 'bad-cohort', 'cohort'],
    ['cohort 5.5', { cpuArch: 'x', cohort: '5.5' }, undefined, 'bad-cohort', 'cohort'],
    ['an empty cohort', { cpuArch: 'x', cohort: '' }, undefined, 'bad-cohort', 'cohort'],
    ['a deviceId with a space', { cpuArch: 'x', deviceId: 'dev 1' }, undefined, 'bad-device-id', 'deviceId'],
    ['a 129-character deviceId', { cpuArch: 'x', deviceId: 'd'.repeat(129) }, undefined, 'bad-device-id', 'deviceId'],
    ['65 If-None-Match tokens', { cpuArch: 'x' }, Array.from({ length: 65 }, () => '*').join(','), 'too-many-hashes', 'If-None-Match'],
    ['an enormous If-None-Match', { cpuArch: 'x' }, 'x'.repeat(100_000), 'too-many-hashes', 'If-None-Match'],
    ['a NUL byte in an attribute', { cpuArch: 'x', site: 'plant\u00007' }, undefined, 'bad-parameter', 'parameter "site" contains a NUL byte'],
    ['a NUL byte in cpuArch', { cpuArch: 'arm\u0000' }, undefined, 'bad-parameter', 'contains a NUL byte'],
    ['a NUL byte in installed', { cpuArch: 'x', installed: 'os\u0000@1.0' }, undefined, 'bad-parameter', 'contains a NUL byte'],
    ['a NUL byte in a key', { cpuArch: 'x', ['si\u0000te']: 'v' }, undefined, 'bad-parameter', 'a parameter name contains a NUL byte'],
    ['an escape character', { cpuArch: 'x', site: '\u001b[2J' }, undefined, 'bad-parameter', 'control character U+001B'],
  ])('refuses %s', (_name, query, ifNoneMatch, code, mention) => {
    const error = thrown(() => parseDeviceQuery(query as Record<string, string>, ifNoneMatch));
    expect(error.code).toBe(code);
    expect(error.message).toContain(mention);
  });
});

describe(parseIfNoneMatch.name, () => {
  it.each<[string, string | undefined, string[], string[]]>([
    ['no header', undefined, [], []],
    ['an empty header', '', [], []],
    ['a bare md5', MD5, [MD5], []],
    ['a quoted md5', `"${MD5}"`, [MD5], []],
    ['a weak, quoted md5', `W/"${MD5}"`, [MD5], []],
    ['a lower-case weak prefix', `w/"${MD5}"`, [MD5], []],
    ['upper-case hex', `"${MD5.toUpperCase()}"`, [MD5], []],
    ['whitespace and a trailing comma', `  ${MD5} ,\t"${SHA}" , `, [MD5, SHA], []],
    ['duplicates', `${MD5},"${MD5}",W/${MD5}`, [MD5], []],
    ['*, garbage and 40-hex tokens ignored', `*, "hello", ${'a'.repeat(40)}, ${MD5}`, [MD5], []],
    ['decision ETags kept apart', `W/"D-ABC123", ${MD5}, "d-0f"`, [MD5], ['d-abc123', 'd-0f']],
    ['a malformed decision ETag ignored', '"d-xyz", "d-"', [], []],
  ])('reads %s', (_name, header, hashes, decisionEtags) => {
    expect(parseIfNoneMatch(header)).toEqual({ hashes, decisionEtags });
  });

  it('allows exactly maxHashes tokens', () => {
    expect(parseIfNoneMatch(Array.from({ length: 3 }, () => MD5).join(', '), 3).hashes).toEqual([MD5]);
    expect(thrown(() => parseIfNoneMatch(Array.from({ length: 4 }, () => MD5).join(', '), 3)).code).toBe('too-many-hashes');
  });
});
