import type { MqttClient } from 'mqtt';
import { startTestApp, type TestApp } from '../support/app';
import { getJson } from '../support/http';
import { connectDevice, endAll, nextMessage, publish, subscribe } from '../support/mqtt';
import { loadSampleData } from '../support/sample';
import { until } from '../support/wait';
import { MqttService } from '../../apps/server/src/mqtt/mqtt.service';
import { deepJson, forbiddenCharacter, fuzzSeed, SeededRandom } from './fuzz-random';

/**
 * Malformed check and status messages over a real MQTT connection. Every check gets an offer with a
 * 4xx status and a message that names what is wrong (and the requestId back when it was fit to echo);
 * bad status reports are counted and dropped, never stored or retried; the broker and the other
 * clients carry on.
 */

const CHECK_CLIENTS = 8;
const CHECKS_PER_CLIENT = 75;
const STATUS_REPORTS = 200;
const OFFER_TIMEOUT_MS = 10_000;
const DEPTH_LIMIT = 32;

interface Offer {
  requestId?: string;
  status: number;
  message?: string;
}

interface CheckCase {
  label: string;
  payload: string | Buffer;
  status: 400 | 404 | 414;
  message: RegExp;
  /** The requestId the offer must carry; undefined: it must carry none. */
  requestId?: string;
}

const FORBIDDEN = /contains (a NUL byte|the control character U\+00[01][0-9A-F])/;

/** Builds malformed checks, each with the answer it must get. */
function checkCases(random: SeededRandom, count: number, prefix: string): CheckCase[] {
  let serial = 0;
  const id = () => `${prefix}-${serial++}`;
  const attributes = () => ({ cpuArch: random.pick(['armv8', 'armv7']), site: `plant-${random.int(1, 9)}` });
  const builders: (() => CheckCase)[] = [
    () => ({
      label: 'not JSON',
      payload: random.pick(['{', '{"requestId":', "{'requestId':'x'}", '{"a":NaN}', '', ' ', '\ufeff{"requestId":"x"}', '{"requestId":"x"}}', 'null garbage']),
      status: 400,
      message: /^the check is not valid JSON$/,
    }),
    () => ({ label: 'bytes that are not UTF-8 JSON', payload: Buffer.from([0xff, 0xfe, 0x00, 0x7b, 0x80]), status: 400, message: /^the check is not valid JSON$/ }),
    () => {
      const requestId = id();
      // At most 20,000 levels: deeper objects would pass MQTT_MAX_PACKET_BYTES, which cuts the connection instead.
      const depth = random.pick([DEPTH_LIMIT, 100, 2000, 20_000]);
      const where = random.pick(['x', 'attributes', 'installed']);
      const deep = deepJson(depth, random.pick(['array', 'object'] as const));
      const body =
        where === 'attributes'
          ? `{"requestId":"${requestId}","attributes":{"cpuArch":"armv8","deep":${deep}}}`
          : `{"requestId":"${requestId}","attributes":{"cpuArch":"armv8"},"${where}":${deep}}`;
      return {
        label: `nested ${depth} levels deep in ${where}`,
        payload: body,
        status: 400,
        message: new RegExp(`^the check is nested deeper than ${DEPTH_LIMIT} levels$`),
        requestId,
      };
    },
    () => ({ label: 'a deep array and nothing else', payload: deepJson(random.pick([40, 5000]), 'array'), status: 400, message: /^the check is nested deeper than/ }),
    () => {
      const requestId = id();
      const key = random.pick(['cpuArch', 'site']);
      return {
        label: 'a control character in an attribute',
        payload: JSON.stringify({ requestId, attributes: { ...attributes(), [key]: `a${forbiddenCharacter(random)}b` } }),
        status: 400,
        message: new RegExp(`^the check: attributes\\.${key} ${FORBIDDEN.source}$`),
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'a control character in an attribute name',
        payload: JSON.stringify({ requestId, attributes: { ...attributes(), [`s${forbiddenCharacter(random)}`]: 'x' } }),
        status: 400,
        message: new RegExp(`^the check: a key of attributes ${FORBIDDEN.source}$`),
        requestId,
      };
    },
    () => ({
      label: 'a control character in the requestId',
      payload: JSON.stringify({ requestId: `r${forbiddenCharacter(random)}`, attributes: attributes() }),
      status: 400,
      message: new RegExp(`^the check: requestId ${FORBIDDEN.source}$`),
    }),
    () => {
      const requestId = id();
      return {
        label: 'a control character in an installed component',
        payload: JSON.stringify({ requestId, attributes: attributes(), installed: [{ component: `os${forbiddenCharacter(random)}`, version: '1.0.0' }] }),
        status: 400,
        message: new RegExp(`^the check: installed\\[0\\]\\.component ${FORBIDDEN.source}$`),
        requestId,
      };
    },
    () => ({ label: 'not an object', payload: random.pick(['1', '"check"', '[]', 'null', 'true']), status: 400, message: /^the check must be a JSON object$/ }),
    () => ({
      label: 'a requestId that is not a short string',
      payload: JSON.stringify({ requestId: random.pick<unknown>([5, null, {}, [], '', 'r'.repeat(129)]), attributes: attributes() }),
      status: 400,
      message: /^requestId must be a string of 1 to 128 characters/,
    }),
    () => {
      const requestId = id();
      return {
        label: 'attributes of the wrong type',
        payload: JSON.stringify({ requestId, attributes: random.pick<unknown>([[1], 'x', null, 5]) }),
        status: 400,
        message: /^attributes must be an object$/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'an attribute of the wrong type',
        payload: JSON.stringify({ requestId, attributes: { ...attributes(), site: random.pick<unknown>([{}, [], null]) } }),
        status: 400,
        message: /^attributes\.site must be a string, number or boolean$/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return { label: 'no cpuArch', payload: JSON.stringify({ requestId, attributes: { site: 'plant-1' } }), status: 400, message: /^cpuArch is required/, requestId };
    },
    () => {
      const requestId = id();
      return {
        label: 'a duplicated attributes key, the last without cpuArch',
        payload: `{"requestId":"${requestId}","attributes":{"cpuArch":"armv8"},"attributes":{"os":"beta"}}`,
        status: 400,
        message: /^cpuArch is required/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'an attribute repeated in another case',
        payload: JSON.stringify({ requestId, attributes: { cpuArch: 'armv8', CPUARCH: 'armv7' } }),
        status: 400,
        message: /more than once/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'an over-long attribute',
        payload: JSON.stringify({ requestId, attributes: { ...attributes(), site: 's'.repeat(random.pick([257, 100_000])) } }),
        status: 414,
        message: /longer than 256 characters/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      const many = Object.fromEntries(Array.from({ length: random.pick([65, 2000]) }, (_, i) => [`k${i}`, 'v']));
      return {
        label: 'too many attributes',
        payload: JSON.stringify({ requestId, attributes: { cpuArch: 'armv8', ...many } }),
        status: 400,
        message: /^at most 64 attributes and fields are allowed/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      const installed = random.pick<unknown>([
        {},
        'os@1',
        [1],
        [{ component: 'os' }],
        [{ component: 'os', version: 'latest' }],
        [{ component: 'os', md5: 'x' }],
        Array.from({ length: 65 }, (_, i) => ({ component: `c${i}`, version: '1' })),
      ]);
      return { label: 'a malformed installed list', payload: JSON.stringify({ requestId, attributes: attributes(), installed }), status: 400, message: /^installed/, requestId };
    },
    () => {
      const requestId = id();
      return {
        label: 'a bad cohort',
        payload: JSON.stringify({ requestId, attributes: attributes(), cohort: random.pick<unknown>([100, -1, 1.5, 'x', true]) }),
        status: 400,
        message: /^cohort must be an integer from 0 to 99/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'a bad payloadType',
        payload: JSON.stringify({ requestId, attributes: attributes(), payloadType: random.pick<unknown>(['zip', 1, null, {}]) }),
        status: 400,
        message: /^payloadType must be fullPayload or metadataOnly/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'a reserved name among the attributes',
        payload: JSON.stringify({ requestId, attributes: { ...attributes(), [random.pick(['installed', 'Cohort', 'deviceId', 'payloadType'])]: 'x' } }),
        status: 400,
        message: /is reserved: send it as a top-level field$/,
        requestId,
      };
    },
    () => {
      const requestId = id();
      return {
        label: 'a device nothing matches',
        payload: JSON.stringify({ requestId, attributes: { cpuArch: `arch\ufffd${random.int(0, 99)}` } }),
        status: 404,
        message: /^no component os_arch/,
        requestId,
      };
    },
  ];
  return Array.from({ length: count }, (_, i) => (i < builders.length ? builders[i] : random.pick(builders))());
}

/** Status reports that must be refused (and so neither stored nor retried). */
function badStatusReports(random: SeededRandom, count: number): string[] {
  const report = () => ({ component: 'os_armv8', version: '1.1.0', state: 'installed' });
  const builders: (() => string)[] = [
    () => random.pick(['{', '', 'null', '[]', '"installed"', '{"component":']),
    () => JSON.stringify({ ...report(), detail: `flash${forbiddenCharacter(random)}error` }),
    () => JSON.stringify({ ...report(), [`k${forbiddenCharacter(random)}`]: 1 }),
    () => `{"component":"os_armv8","version":"1.1.0","state":"installed","detail":${deepJson(random.pick([33, 2000, 20_000]), random.pick(['array', 'object'] as const))}}`,
    () => JSON.stringify({ ...report(), state: random.pick(['exploded', '', 5, null]) }),
    () => JSON.stringify({ ...report(), version: random.pick(['not a version', '', 1, 'v'.repeat(65)]) }),
    () => JSON.stringify({ ...report(), rolloutId: random.pick(['x', 5, '00000000-0000-0000-0000-00000000000g']) }),
    () => JSON.stringify({ ...report(), detail: 'd'.repeat(1001) }),
    () => JSON.stringify({ ...report(), component: random.pick(['', 'a b', '../os', 'x'.repeat(65), {}]) }),
    () => JSON.stringify({ ...report(), extra: true }),
  ];
  return Array.from({ length: count }, (_, i) => (i < builders.length ? builders[i] : random.pick(builders))());
}

async function metric(baseUrl: string, pattern: RegExp): Promise<number> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return Number(pattern.exec(text)?.[1] ?? 0);
}

describe('MQTT fuzz of check and status messages', () => {
  let appliance: TestApp;
  let mqttUrl: string;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { MQTT_MAX_PUBLISH_PER_SECOND: '1000', MAX_JSON_DEPTH: String(DEPTH_LIMIT) } });
    await loadSampleData(appliance.url, 4096);
    mqttUrl = `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`;
  });

  afterAll(async () => appliance.dispose());

  async function ask(client: MqttClient, deviceId: string, payload: string | Buffer): Promise<Offer> {
    const offer = nextMessage<Offer>(client, `ota/v1/devices/${deviceId}/offer`, OFFER_TIMEOUT_MS);
    await publish(client, `ota/v1/devices/${deviceId}/check`, payload);
    return offer;
  }

  async function connected(deviceId: string): Promise<MqttClient> {
    const client = await connectDevice(mqttUrl, deviceId);
    expect(await subscribe(client, `ota/v1/devices/${deviceId}/offer`)).toBe(1);
    return client;
  }

  it('answers every malformed check with a 4xx offer that says what is wrong, and keeps serving the others', async () => {
    const random = new SeededRandom(fuzzSeed(20261211));
    const bystander = await connected('bystander');
    const clients: MqttClient[] = [];
    const failures: string[] = [];
    let drops = 0;
    try {
      const healthy = async () => (await ask(bystander, 'bystander', JSON.stringify({ requestId: 'ok', attributes: { cpuArch: 'armv8' }, payloadType: 'metadataOnly' }))).status;
      expect(await healthy()).toBe(200);

      // Planned before any client connects, so that the same seed gives each client the same checks.
      const plans = Array.from({ length: CHECK_CLIENTS }, (_, index) => checkCases(random, CHECKS_PER_CLIENT, `fuzz-mqtt-${index}`));
      const fuzzClient = async (index: number) => {
        const deviceId = `fuzz-mqtt-${index}`;
        const client = await connected(deviceId);
        clients.push(client);
        client.on('close', () => drops++);
        for (const check of plans[index]) {
          let offer: Offer;
          try {
            offer = await ask(client, deviceId, check.payload);
          } catch (error) {
            failures.push(`${check.label}: ${(error as Error).message}`);
            continue;
          }
          const expected = { status: check.status, message: true, requestId: check.requestId };
          const actual = { status: offer.status, message: check.message.test(offer.message ?? ''), requestId: offer.requestId };
          if (JSON.stringify(actual) !== JSON.stringify(expected))
            failures.push(`${check.label}: got ${JSON.stringify(offer)}, expected ${check.status} matching ${check.message}`);
        }
      };
      await Promise.all(Array.from({ length: CHECK_CLIENTS }, (_, i) => fuzzClient(i)));

      expect(failures.slice(0, 20)).toEqual([]);
      expect(drops).toBe(0);
      expect(await healthy()).toBe(200);
      expect(appliance.app.get(MqttService).ports.tcp).toBeGreaterThan(0);
      expect(await metric(appliance.url, /ota_mqtt_device_messages_total\{kind="check",result="400"\} (\d+)/)).toBeGreaterThanOrEqual(CHECK_CLIENTS * CHECKS_PER_CLIENT * 0.8);
    } finally {
      await endAll(bystander, ...clients);
    }
  });

  it('drops every malformed status report, stores none and retries none, and stores the next good one', async () => {
    const random = new SeededRandom(fuzzSeed(20261212));
    const invalid = /ota_mqtt_device_messages_total\{kind="status",result="invalid"\} (\d+)/;
    const before = await metric(appliance.url, invalid);
    const device = await connectDevice(mqttUrl, 'fuzz-status');
    try {
      // QoS 1: each PUBACK comes after the appliance has handled the report. A few in flight at a time.
      const reports = badStatusReports(random, STATUS_REPORTS);
      for (let i = 0; i < reports.length; i += 20) {
        await Promise.all(reports.slice(i, i + 20).map((report) => publish(device, 'ota/v1/devices/fuzz-status/status', report)));
      }
      await publish(device, 'ota/v1/devices/fuzz-status/status', JSON.stringify({ component: 'os_armv8', version: '1.1.0', state: 'installed', reportId: 'good' }));
      expect(device.connected).toBe(true);
    } finally {
      await endAll(device);
    }
    expect((await metric(appliance.url, invalid)) - before).toBe(STATUS_REPORTS);
    const history = await until(
      async () => (await getJson(`${appliance.url}/api/v1/devices/fuzz-status`)).body?.history as { state: string }[] | undefined,
      (rows) => (rows?.length ?? 0) > 0,
    );
    expect(history?.map((row) => row.state)).toEqual(['installed']);
    expect(await metric(appliance.url, /ota_mqtt_status_dead_letters_total (\d+)/)).toBe(0);
  });
});
