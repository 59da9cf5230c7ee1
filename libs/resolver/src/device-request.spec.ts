import {
  cohortOf,
  DeviceRequestError,
  parseDeviceQuery,
  parseIfNoneMatch,
  parseMqttCheck,
  type DeviceRequest,
  type DeviceRequestErrorCode,
} from './device-request';

const MD5 = '0123456789abcdef0123456789abcdef';
const SHA = 'f'.repeat(64);

function manyParameters(count: number): Record<string, string> {
  return Object.fromEntries([['cpuArch', 'armv8'], ...Array.from({ length: count - 1 }, (_, i) => [`k${i}`, 'v'])]);
}

function thrown(action: () => unknown): DeviceRequestError {
  try {
    action();
  } catch (error) {
    if (error instanceof DeviceRequestError) return error;
    throw error;
  }
  throw new Error('expected a DeviceRequestError, nothing was thrown');
}

/** The parts of a request that are plain data, for comparisons. */
function plain(request: DeviceRequest) {
  return {
    cpuArch: request.cpuArch,
    attributes: { ...request.attributes },
    attributesLower: Object.fromEntries(request.attributesLower),
    payloadType: request.payloadType,
    cohort: request.cohort,
    deviceId: request.deviceId,
    installed: Object.fromEntries([...request.installed].map(([key, i]) => [key, `${i.component}@${i.version.raw}`])),
    hashes: [...request.hashes].sort(),
    decisionEtags: request.decisionEtags,
  };
}

describe(cohortOf.name, () => {
  // Expected values computed with `printf %s <id> | sha256sum`: first 8 hex digits, as an integer, mod 100.
  it.each([
    ['device-0001', 26],
    ['plant-7:gw-12', 14],
    ['a', 10],
    ['c', 3],
    ['dev-1', 98],
  ])('puts %s in cohort %i', (deviceId, cohort) => {
    expect(cohortOf(deviceId)).toBe(cohort);
  });
});

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

  it.each<[string, Record<string, unknown>, string | undefined, DeviceRequestErrorCode, 400 | 414, string]>([
    ['no cpuArch', { os: 'beta' }, undefined, 'missing-cpu-arch', 400, 'cpuArch'],
    ['an empty cpuArch', { cpuArch: '' }, undefined, 'missing-cpu-arch', 400, 'cpuArch'],
    ['an unknown payloadType', { cpuArch: 'x', payloadType: 'zip' }, undefined, 'bad-payload-type', 400, 'payloadType'],
    ['65 parameters', manyParameters(65), undefined, 'too-many-parameters', 400, '64'],
    ['65 parameters counting reserved ones', { ...manyParameters(64), cohort: '1' }, undefined, 'too-many-parameters', 400, '64'],
    ['a 65-character key', { cpuArch: 'x', ['k'.repeat(65)]: 'v' }, undefined, 'parameter-too-long', 414, 'kkkk'],
    ['a 257-character value', { cpuArch: 'x', site: 'v'.repeat(257) }, undefined, 'parameter-too-long', 414, 'site'],
    ['a 257-character reserved value', { cpuArch: 'x', deviceId: 'v'.repeat(257) }, undefined, 'parameter-too-long', 414, 'deviceId'],
    ['a repeated key', { cpuArch: ['a', 'b'] }, undefined, 'duplicate-parameter', 400, 'cpuArch'],
    ['a key repeated in another case', { cpuArch: 'a', CPUARCH: 'b' }, undefined, 'duplicate-parameter', 400, 'CPUARCH'],
    [
      'a reserved key repeated in another case',
      { cpuArch: 'a', cohort: '1', COHORT: '2' },
      undefined,
      'duplicate-parameter',
      400,
      'COHORT',
    ],
    ['a nested value', { cpuArch: 'a', os: { x: '1' } }, undefined, 'bad-parameter', 400, 'os'],
    ['installed without @', { cpuArch: 'x', installed: 'ipModule' }, undefined, 'bad-installed', 400, 'ipModule'],
    ['installed with a bad version', { cpuArch: 'x', installed: 'ipModule@latest' }, undefined, 'bad-installed', 400, 'ipModule@latest'],
    ['installed without a component', { cpuArch: 'x', installed: '@1.0' }, undefined, 'bad-installed', 400, 'component name'],
    ['installed with a bad component', { cpuArch: 'x', installed: 'ip module@1.0' }, undefined, 'bad-installed', 400, 'ip module@1.0'],
    ['installed naming a component twice', { cpuArch: 'x', installed: 'a@1,A@2' }, undefined, 'bad-installed', 400, 'twice'],
    [
      'installed with 65 entries',
      { cpuArch: 'x', installed: Array.from({ length: 65 }, (_, i) => `c${i}@1`).join(',') },
      undefined,
      'too-many-installed',
      400,
      '64',
    ],
    [
      'an installed entry over 256 characters',
      { cpuArch: 'x', installed: `${'c'.repeat(250)}@1.0.0.0` },
      undefined,
      'parameter-too-long',
      414,
      'installed',
    ],
    ['an enormous installed value', { cpuArch: 'x', installed: 'a@1,'.repeat(5000) }, undefined, 'parameter-too-long', 414, 'installed'],
    ['cohort 100', { cpuArch: 'x', cohort: '100' }, undefined, 'bad-cohort', 400, 'cohort'],
    ['cohort -1', { cpuArch: 'x', cohort: '-1' }, undefined, 'bad-cohort', 400, 'cohort'],
    ['cohort 5.5', { cpuArch: 'x', cohort: '5.5' }, undefined, 'bad-cohort', 400, 'cohort'],
    ['an empty cohort', { cpuArch: 'x', cohort: '' }, undefined, 'bad-cohort', 400, 'cohort'],
    ['a deviceId with a space', { cpuArch: 'x', deviceId: 'dev 1' }, undefined, 'bad-device-id', 400, 'deviceId'],
    ['a 129-character deviceId', { cpuArch: 'x', deviceId: 'd'.repeat(129) }, undefined, 'bad-device-id', 400, 'deviceId'],
    ['65 If-None-Match tokens', { cpuArch: 'x' }, Array.from({ length: 65 }, () => '*').join(','), 'too-many-hashes', 400, 'If-None-Match'],
    ['an enormous If-None-Match', { cpuArch: 'x' }, 'x'.repeat(100_000), 'too-many-hashes', 400, 'If-None-Match'],
    ['a NUL byte in an attribute', { cpuArch: 'x', site: 'plant\u00007' }, undefined, 'bad-parameter', 400, 'parameter "site" contains a NUL byte'],
    ['a NUL byte in cpuArch', { cpuArch: 'arm\u0000' }, undefined, 'bad-parameter', 400, 'contains a NUL byte'],
    ['a NUL byte in installed', { cpuArch: 'x', installed: 'os\u0000@1.0' }, undefined, 'bad-parameter', 400, 'contains a NUL byte'],
    ['a NUL byte in a key', { cpuArch: 'x', ['si\u0000te']: 'v' }, undefined, 'bad-parameter', 400, 'a parameter name contains a NUL byte'],
    ['an escape character', { cpuArch: 'x', site: '\u001b[2J' }, undefined, 'bad-parameter', 400, 'control character U+001B'],
  ])('refuses %s', (_name, query, ifNoneMatch, code, httpStatus, mention) => {
    const error = thrown(() => parseDeviceQuery(query as Record<string, string>, ifNoneMatch));
    expect([error.code, error.httpStatus]).toEqual([code, httpStatus]);
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

describe(parseMqttCheck.name, () => {
  const check = {
    requestId: 'r-1',
    attributes: { cpuArch: 'armv8', attrGamer: 'prod', hwRev: 3, camera: true },
    installed: [
      { component: 'ipModule', version: '5.6.14' },
      { component: 'os_armv8', md5: MD5.toUpperCase(), sha256: SHA },
      { component: 'scoreboard', version: '1.0', md5: MD5 },
    ],
    payloadType: 'metadataOnly',
    cohort: 7,
  };

  it('produces the request the HTTP form would, with the cohort of the deviceId', () => {
    const mqtt = parseMqttCheck(check, 'dev-1');
    const http = parseDeviceQuery(
      {
        cpuArch: 'armv8',
        attrGamer: 'prod',
        hwRev: '3',
        camera: 'true',
        payloadType: 'metadataOnly',
        deviceId: 'dev-1',
        installed: 'ipModule@5.6.14,scoreboard@1.0',
      },
      `${MD5},${SHA}`,
    );
    expect(plain(mqtt)).toEqual(plain(http));
    expect(mqtt.requestId).toBe('r-1');
    expect(mqtt.cohort).toBe(98);
  });

  it('accepts a minimal check', () => {
    const request = parseMqttCheck({ requestId: 'x', attributes: { cpuArch: 'armv7' } }, 'a');
    expect(plain(request)).toMatchObject({ cpuArch: 'armv7', payloadType: 'fullPayload', cohort: 10, installed: {}, hashes: [] });
  });

  it.each<[string, unknown, string, DeviceRequestErrorCode, string | undefined]>([
    ['a non-object', [1], 'dev-1', 'bad-payload', undefined],
    ['null', null, 'dev-1', 'bad-payload', undefined],
    ['a missing requestId', { attributes: { cpuArch: 'x' } }, 'dev-1', 'bad-payload', undefined],
    ['a numeric requestId', { ...check, requestId: 5 }, 'dev-1', 'bad-payload', undefined],
    ['a 129-character requestId', { ...check, requestId: 'r'.repeat(129) }, 'dev-1', 'bad-payload', undefined],
    ['a NUL byte in the requestId', { ...check, requestId: 'r\u0000' }, 'dev-1', 'bad-payload', undefined],
    ['a NUL byte in an attribute', { ...check, attributes: { cpuArch: 'x', site: 'a\u0000' } }, 'dev-1', 'bad-payload', 'r-1'],
    ['a NUL byte in an attribute name', { ...check, attributes: { cpuArch: 'x', ['s\u0000']: 'a' } }, 'dev-1', 'bad-parameter', 'r-1'],
    ['a bad client id', check, 'dev/1', 'bad-device-id', 'r-1'],
    ['missing attributes', { requestId: 'r-1' }, 'dev-1', 'bad-payload', 'r-1'],
    ['no cpuArch', { ...check, attributes: { os: 'beta' } }, 'dev-1', 'missing-cpu-arch', 'r-1'],
    ['an object attribute', { ...check, attributes: { cpuArch: 'x', site: { a: 1 } } }, 'dev-1', 'bad-payload', 'r-1'],
    ['a NaN attribute', { ...check, attributes: { cpuArch: 'x', n: NaN } }, 'dev-1', 'bad-payload', 'r-1'],
    ['a reserved attribute', { ...check, attributes: { cpuArch: 'x', Installed: 'a@1' } }, 'dev-1', 'bad-payload', 'r-1'],
    [
      'attributes repeated in another case',
      { ...check, attributes: { cpuArch: 'x', CPUARCH: 'y' } },
      'dev-1',
      'duplicate-parameter',
      'r-1',
    ],
    ['a 257-character attribute', { ...check, attributes: { cpuArch: 'v'.repeat(257) } }, 'dev-1', 'parameter-too-long', 'r-1'],
    [
      'too many attributes',
      { ...check, attributes: Object.fromEntries(Array.from({ length: 62 }, (_, i) => [`k${i}`, 'v'])) },
      'dev-1',
      'too-many-parameters',
      'r-1',
    ],
    ['an unknown payloadType', { ...check, payloadType: 'zip' }, 'dev-1', 'bad-payload-type', 'r-1'],
    ['a numeric payloadType', { ...check, payloadType: 1 }, 'dev-1', 'bad-payload-type', 'r-1'],
    ['cohort 100', { ...check, cohort: 100 }, 'dev-1', 'bad-cohort', 'r-1'],
    ['cohort 1.5', { ...check, cohort: 1.5 }, 'dev-1', 'bad-cohort', 'r-1'],
    ['installed not an array', { ...check, installed: {} }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry that is not an object', { ...check, installed: ['a@1'] }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry without version or hash', { ...check, installed: [{ component: 'a' }] }, 'dev-1', 'bad-installed', 'r-1'],
    [
      'an installed entry with a bad version',
      { ...check, installed: [{ component: 'a', version: 'new' }] },
      'dev-1',
      'bad-installed',
      'r-1',
    ],
    ['an installed entry with a bad md5', { ...check, installed: [{ component: 'a', md5: SHA }] }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry with a bad sha256', { ...check, installed: [{ component: 'a', sha256: MD5 }] }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry without component', { ...check, installed: [{ version: '1' }] }, 'dev-1', 'bad-installed', 'r-1'],
    [
      'a component installed twice',
      {
        ...check,
        installed: [
          { component: 'a', version: '1' },
          { component: 'A', md5: MD5 },
        ],
      },
      'dev-1',
      'bad-installed',
      'r-1',
    ],
    [
      '65 installed entries',
      { ...check, installed: Array.from({ length: 65 }, (_, i) => ({ component: `c${i}`, version: '1' })) },
      'dev-1',
      'too-many-installed',
      'r-1',
    ],
  ])('refuses %s', (_name, payload, deviceId, code, requestId) => {
    const error = thrown(() => parseMqttCheck(payload, deviceId));
    expect([error.code, error.httpStatus, error.requestId]).toEqual([code, error.code === 'parameter-too-long' ? 414 : 400, requestId]);
  });
});
