import { MD5, plain, SHA, thrown } from '../testing/device-requests';
import type { DeviceRequestErrorCode } from './errors';
import { parseDeviceQuery } from './http-query';
import { mqttRequestIdOf, parseMqttCheck } from './mqtt-check';

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
    ['attributes repeated in another case', { ...check, attributes: { cpuArch: 'x', CPUARCH: 'y' } }, 'dev-1', 'duplicate-parameter', 'r-1'],
    ['a 257-character attribute', { ...check, attributes: { cpuArch: 'v'.repeat(257) } }, 'dev-1', 'parameter-too-long', 'r-1'],
    ['too many attributes', { ...check, attributes: Object.fromEntries(Array.from({ length: 62 }, (_, i) => [`k${i}`, 'v'])) }, 'dev-1', 'too-many-parameters', 'r-1'],
    ['an unknown payloadType', { ...check, payloadType: 'zip' }, 'dev-1', 'bad-payload-type', 'r-1'],
    ['a numeric payloadType', { ...check, payloadType: 1 }, 'dev-1', 'bad-payload-type', 'r-1'],
    ['cohort 100', { ...check, cohort: 100 }, 'dev-1', 'bad-cohort', 'r-1'],
    ['cohort 1.5', { ...check, cohort: 1.5 }, 'dev-1', 'bad-cohort', 'r-1'],
    ['installed not an array', { ...check, installed: {} }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry that is not an object', { ...check, installed: ['a@1'] }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry without version or hash', { ...check, installed: [{ component: 'a' }] }, 'dev-1', 'bad-installed', 'r-1'],
    ['an installed entry with a bad version', { ...check, installed: [{ component: 'a', version: 'new' }] }, 'dev-1', 'bad-installed', 'r-1'],
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
    ['65 installed entries', { ...check, installed: Array.from({ length: 65 }, (_, i) => ({ component: `c${i}`, version: '1' })) }, 'dev-1', 'too-many-installed', 'r-1'],
  ])('refuses %s', (_name, payload, deviceId, code, requestId) => {
    const error = thrown(() => parseMqttCheck(payload, deviceId));
    expect([error.code, error.requestId]).toEqual([code, requestId]);
  });
});

describe(mqttRequestIdOf.name, () => {
  it.each<[string, unknown, string | undefined]>([
    ['a valid id', { requestId: 'r-1' }, 'r-1'],
    ['128 characters', { requestId: 'r'.repeat(128) }, 'r'.repeat(128)],
    ['129 characters, which would be cut short', { requestId: 'r'.repeat(129) }, undefined],
    ['an empty id', { requestId: '' }, undefined],
    ['a number', { requestId: 5 }, undefined],
    ['a control character', { requestId: 'r\u001b' }, undefined],
    ['no object', ['r-1'], undefined],
    ['null', null, undefined],
  ])('echoes %s as %p', (_name, payload, requestId) => {
    expect(mqttRequestIdOf(payload)).toBe(requestId);
  });
});
