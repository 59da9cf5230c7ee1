import { databaseOf } from '@test/support/database';
import { startTestApp, type TestApp } from '@test/support/app';
import { getJson, sendJson, upload } from '@test/support/http';
import { connectDevice, endAll, nextMessage, publish, subscribe } from '@test/support/mqtt';
import { until } from '@test/support/wait';
import { AppConfig } from '../config/app-config';
import { MqttService } from '../mqtt/mqtt.service';

const DEPTH_LIMIT = 16;

/** `[[…1…]]`, `levels` arrays deep: 2,000 of them overflowed the validator's stack (500). */
const nested = (levels: number) => `${'['.repeat(levels)}1${']'.repeat(levels)}`;

describe('NUL bytes, control characters and deep JSON are refused before anything else sees them', () => {
  let appliance: TestApp;
  let mqttUrl: string;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { MAX_JSON_DEPTH: String(DEPTH_LIMIT) } });
    mqttUrl = `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`;
  });

  afterAll(async () => appliance.dispose());

  async function sendRaw(method: string, path: string, body?: string, headers: Record<string, string> = {}) {
    const response = await fetch(`${appliance.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${appliance.env.ADMIN_API_KEY}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      body,
    });
    const text = await response.text();
    return { status: response.status, body: text ? (JSON.parse(text) as { statusCode: number; error: string; message: string }) : undefined };
  }

  function expectRefused(response: { status: number; body?: { statusCode: number; error: string; message: string } }, message: RegExp) {
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(message) });
  }

  describe('over HTTP', () => {
    it.each([
      [
        'detail of a status report',
        'POST',
        '/devices/dev-1/status',
        { component: 'os', version: '1.0.0', state: 'failed', detail: 'flash\u0000error' },
        /detail contains a NUL byte/,
      ],
      ['a key name', 'POST', '/api/v1/keys', { name: 'ci\u0000', scope: 'read' }, /name contains a NUL byte/],
      ['an attribute value', 'POST', '/api/v1/devices', { id: 'gw-1', attributes: { site: 'plant\u00007' } }, /attributes\.site contains a NUL byte/],
      ['an attribute name', 'POST', '/api/v1/devices', { id: 'gw-1', attributes: { 'si\u0000te': 'plant-7' } }, /a key of attributes contains a NUL byte/],
      [
        'an escape character',
        'POST',
        '/devices/dev-1/status',
        { component: 'os', version: '1.0.0', state: 'failed', detail: '\u001b[31mred' },
        /detail contains the control character U\+001B/,
      ],
    ])('refuses a NUL byte or control character in %s with 400', async (_label, method, path, body, message) => {
      expectRefused(await sendRaw(method, path, JSON.stringify(body)), message);
    });

    it('keeps tabs and line breaks in free text', async () => {
      const response = await sendRaw('POST', '/devices/dev-2/status', JSON.stringify({ component: 'os', version: '1.0.0', state: 'failed', detail: 'line 1\n\tline 2\r\n' }));
      expect(response.status).toBe(200);
    });

    it.each([
      ['a channel name', 'PUT', '/api/v1/components/os/channels/prod%00', JSON.stringify({ version: '1.0.0' })],
      ['a component name', 'GET', '/api/v1/components/os%00x/versions', undefined],
      ['a component name of a channel list', 'GET', '/api/v1/components/os%00/channels', undefined],
      ['a device id', 'GET', '/api/v1/devices/dev%00', undefined],
    ])('refuses a NUL byte in %s of the path with 400', async (_label, method, path, body) => {
      expectRefused(await sendRaw(method, path, body), /path contains a NUL byte/);
    });

    it('refuses a NUL byte in the notes of an upload with 400', async () => {
      const response = await upload(appliance.url, 'nul-notes', '1.0.0', Buffer.from('binary'), { query: 'notes=first%00line' });
      expect(response.status).toBe(400);
      expect(response.body.message).toMatch(/query parameter notes contains a NUL byte/);
    });

    it('refuses a path that is not valid percent-encoding with 400', async () => {
      expectRefused(await sendRaw('GET', '/api/v1/components/%E0%A4%A/versions'), /percent-encoding/);
    });

    it.each([
      ['a status report', '/devices/dev-1/status', `{"component":"os","version":"1.0.0","state":"failed","detail":${nested(2000)}}`],
      ['a peer registration', '/peers/register', `{"site":"plant-7","peerId":"x","addrs":[${nested(2000)}]}`],
      ['a device registration', '/api/v1/devices', `{"id":"gw-2","attributes":${nested(2000)}}`],
      ['a rollout', '/api/v1/rollouts', `{"component":"os","channel":"prod","phases":[${nested(2000)}]}`],
    ])('refuses %s nested 2,000 levels deep with 400', async (_label, path, body) => {
      expectRefused(await sendRaw('POST', path, body), new RegExp(`nested deeper than ${DEPTH_LIMIT} levels`));
    });

    it('accepts JSON as deep as the limit and refuses one level more', async () => {
      // The report itself is level 1; `extra` is refused by the validator, not by the depth rule.
      expect(JSON.stringify((await sendRaw('POST', '/devices/dev-1/status', `{"extra":${nested(DEPTH_LIMIT - 1)}}`)).body)).not.toMatch(/nested/);
      expectRefused(await sendRaw('POST', '/devices/dev-1/status', `{"extra":${nested(DEPTH_LIMIT)}}`), /nested deeper/);
    });

    it.each([
      ['an attribute value', '/package?cpuArch=armv8&site=plant%007'],
      ['an attribute name', '/package?cpuArch=armv8&si%00te=plant'],
      ['cpuArch', '/package?cpuArch=arm%00v8'],
    ])('refuses a NUL byte in %s of a device check with 400', async (_label, path) => {
      for (const method of ['GET', 'HEAD']) {
        const response = await fetch(`${appliance.url}${path}`, { method });
        expect(response.status).toBe(400);
        if (method === 'GET') expect(await response.json()).toEqual({ statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/contains a NUL byte/) });
      }
    });
  });

  describe('over MQTT', () => {
    async function offerFor(deviceId: string, payload: string) {
      const device = await connectDevice(mqttUrl, deviceId);
      try {
        expect(await subscribe(device, `ota/v1/devices/${deviceId}/offer`)).toBe(1);
        const offer = nextMessage<{ requestId?: string; status: number; message?: string }>(device, `ota/v1/devices/${deviceId}/offer`);
        await publish(device, `ota/v1/devices/${deviceId}/check`, payload);
        return await offer;
      } finally {
        await endAll(device);
      }
    }

    it('answers a check nested 2,000 levels deep with a 400 offer that says so', async () => {
      const offer = await offerFor('deep-1', `{"requestId":"r-1","attributes":{"cpuArch":"armv8"},"extra":${nested(2000)}}`);
      expect(offer).toEqual({ requestId: 'r-1', status: 400, message: `the check is nested deeper than ${DEPTH_LIMIT} levels` });
    });

    it('answers a check with a NUL byte in an attribute with a 400 offer that says so', async () => {
      const offer = await offerFor('nul-1', JSON.stringify({ requestId: 'r-2', attributes: { cpuArch: 'armv8', site: 'plant\u00007' } }));
      expect(offer).toEqual({ requestId: 'r-2', status: 400, message: 'the check: attributes.site contains a NUL byte' });
    });

    it('still calls JSON that does not parse invalid JSON', async () => {
      expect(await offerFor('bad-json', '{"requestId":')).toEqual({ status: 400, message: 'the check is not valid JSON' });
    });

    it('drops a status report with a NUL byte instead of retrying it forever, and stores the next one', async () => {
      const device = await connectDevice(mqttUrl, 'nul-status');
      try {
        await publish(device, 'ota/v1/devices/nul-status/status', JSON.stringify({ component: 'os', version: '1.0.0', state: 'failed', detail: 'a\u0000b', reportId: 'nul' }));
        await publish(device, 'ota/v1/devices/nul-status/status', JSON.stringify({ component: 'os', version: '1.0.0', state: 'installed', reportId: 'ok' }));
      } finally {
        await endAll(device);
      }
      const history = await until(
        async () => (await getJson(`${appliance.url}/api/v1/devices/nul-status`)).body?.history as { state: string }[] | undefined,
        (rows) => (rows?.length ?? 0) > 0,
      );
      expect(history?.map((row) => row.state)).toEqual(['installed']);
      const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
      expect(metrics).toMatch(/ota_mqtt_device_messages_total\{kind="status",result="invalid"\} [1-9]/);
    });

    it('does not let one device with a NUL byte in its attributes keep the others from being marked seen', async () => {
      // Together, so that both land in the same batch of "seen" updates.
      await Promise.all([
        offerFor('nul-seen', JSON.stringify({ requestId: 'r-3', attributes: { cpuArch: 'armv8', site: 'x\u0000' } })),
        offerFor('clean-seen', JSON.stringify({ requestId: 'r-4', attributes: { cpuArch: 'armv8', site: 'plant-7' } })),
      ]);
      const dataSource = databaseOf(appliance);
      const seen = await until(
        async () => (await dataSource.query(`SELECT id FROM devices WHERE id = 'clean-seen' AND last_seen_at IS NOT NULL`)) as unknown[],
        (rows) => rows.length > 0,
      );
      expect(seen).toHaveLength(1);
    });
  });

  it('answers a configured depth limit out of range with a clear error', () => {
    expect(() => AppConfig.fromEnvironment({ ...appliance.env, MAX_JSON_DEPTH: '1' })).toThrow(/MAX_JSON_DEPTH/);
  });

  it('answers the same device with JSON after refusing it', async () => {
    expect((await sendJson('POST', `${appliance.url}/devices/dev-1/status`, { component: 'os', version: '1.0.0', state: 'installed' }, {})).status).toBe(200);
  });
});
