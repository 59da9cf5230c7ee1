import { startTestApp, type TestApp } from '@test/support/app';
import { getJson, sendJson } from '@test/support/http';

describe('device status reports and inventory', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp();
  });

  afterAll(async () => appliance.dispose());

  const report = (deviceId: string, body: unknown, headers: Record<string, string> = {}) => sendJson('POST', `${appliance.url}/devices/${deviceId}/status`, body, headers);

  it('stores reports, updates the inventory on installed, and shows both to the operator', async () => {
    expect((await report('dev-1', { component: 'os_armv8', version: '1.1.0', state: 'downloading' })).body).toEqual({ stored: true });
    expect((await report('dev-1', { component: 'os_armv8', version: '1.1.0', state: 'installed', detail: 'took 42 s' })).status).toBe(200);
    expect((await report('dev-1', { component: 'modemFW', version: '1.0', state: 'failed', detail: 'flash error' })).status).toBe(200);

    const device = await getJson(`${appliance.url}/api/v1/devices/dev-1`);
    expect(device.status).toBe(200);
    expect(device.body.installed).toEqual([expect.objectContaining({ component: 'os_armv8', version: '1.1.0' })]);
    expect(device.body.history.map((r: { state: string }) => r.state)).toEqual(['failed', 'installed', 'downloading']);
    expect(device.body.history[1]).toMatchObject({ detail: 'took 42 s', rolloutId: null });
    expect(new Date(device.body.lastSeenAt).getTime()).toBeGreaterThan(Date.now() - 60_000);

    const list = await getJson(`${appliance.url}/api/v1/devices`);
    expect(list.body.items.map((d: { id: string }) => d.id)).toContain('dev-1');
  });

  it('stores a report delivered twice only once', async () => {
    const body = { component: 'scoreboard', version: '1.0.0', state: 'installed', reportId: 'r-1' };
    expect((await report('dev-2', body)).body).toEqual({ stored: true });
    expect((await report('dev-2', body)).body).toEqual({ stored: false });
    const same = { component: 'scoreboard', version: '1.0.0', state: 'installing' };
    expect((await report('dev-2', same)).body).toEqual({ stored: true });
    expect((await report('dev-2', same)).body).toEqual({ stored: false });
    expect((await getJson(`${appliance.url}/api/v1/devices/dev-2`)).body.history).toHaveLength(2);
  });

  it.each([
    ['an unknown state', { component: 'os', version: '1.0', state: 'exploded' }],
    ['a garbage version', { component: 'os', version: 'not a version', state: 'installed' }],
    ['a missing component', { version: '1.0', state: 'installed' }],
    ['an unknown field', { component: 'os', version: '1.0', state: 'installed', extra: true }],
    ['a bad rolloutId', { component: 'os', version: '1.0', state: 'installed', rolloutId: 'x' }],
  ])('refuses %s with 400', async (_label, body) => {
    const response = await report('dev-3', body);
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it('refuses a bad device id with 400 and an unknown device with 404', async () => {
    expect((await report('bad id!', { component: 'os', version: '1.0', state: 'installed' })).status).toBe(400);
    expect((await getJson(`${appliance.url}/api/v1/devices/nobody`)).status).toBe(404);
  });

  it('pages through devices', async () => {
    for (const id of ['page-a', 'page-b', 'page-c']) await report(id, { component: 'os', version: '1.0', state: 'downloading' });
    const first = await getJson(`${appliance.url}/api/v1/devices?limit=2&after=page-`);
    expect(first.body.items.map((d: { id: string }) => d.id)).toEqual(['page-a', 'page-b']);
    const second = await getJson(`${appliance.url}/api/v1/devices?limit=2&after=${first.body.next}`);
    expect(second.body.items[0].id).toBe('page-c');
    expect((await getJson(`${appliance.url}/api/v1/devices?limit=5000`)).status).toBe(400);
  });
});

describe('device status with DEVICE_AUTH=token', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { DEVICE_AUTH: 'token' } });
  });

  afterAll(async () => appliance.dispose());

  it('accepts a registered device with its token, and refuses unknown devices, wrong and rotated tokens', async () => {
    const registered = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'gw-1', attributes: { site: 'plant-7' } });
    expect(registered.status).toBe(201);
    const token = registered.body.token;
    const body = { component: 'os_armv8', version: '1.1.0', state: 'installed' };
    const post = (id: string, auth?: string) => sendJson('POST', `${appliance.url}/devices/${id}/status`, body, auth ? { authorization: `Bearer ${auth}` } : {});

    expect((await post('gw-1', token)).status).toBe(200);
    expect((await post('gw-1')).status).toBe(401);
    expect((await post('gw-1', 'dev_wrong')).status).toBe(401);
    expect((await post('gw-2', token)).status).toBe(401);

    expect((await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'gw-1' })).status).toBe(409);
    const rotated = await sendJson('POST', `${appliance.url}/api/v1/devices/gw-1/token`, undefined);
    expect(rotated.status).toBe(201);
    expect((await post('gw-1', token)).status).toBe(401);
    expect((await post('gw-1', rotated.body.token)).status).toBe(200);

    const device = await getJson(`${appliance.url}/api/v1/devices/gw-1`);
    expect(device.body).toMatchObject({ registered: true, attributes: { site: 'plant-7' } });
    expect(JSON.stringify(device.body)).not.toContain(rotated.body.token);
  });
});
