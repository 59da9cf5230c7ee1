import { randomInt } from 'node:crypto';
import { Client } from 'pg';
import { startTestApp, type TestApp } from '@test/support/app';
import { getJson, sendJson } from '@test/support/http';
import { connectDevice, endAll, nextMessage, publish, subscribe } from '@test/support/mqtt';
import { until } from '@test/support/wait';
import { MqttService } from '../mqtt/mqtt.service';
import { MAX_PEERS_PER_SITE } from './peers.service';

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const peerId = () => `12D3KooW${Array.from({ length: 44 }, () => BASE58[randomInt(BASE58.length)]).join('')}`;
const addr = (id: string, port = 4010) => `/ip4/10.0.0.2/tcp/${port}/p2p/${id}`;

describe('the peer agents site roster', () => {
  let appliance: TestApp;
  let db: Client;

  const register = (body: unknown, headers: Record<string, string> = {}, target: TestApp = appliance) => sendJson('POST', `${target.url}/peers/register`, body, headers);

  beforeAll(async () => {
    appliance = await startTestApp({ env: { PEER_ROSTER_TTL_SECONDS: '30' } });
    db = new Client({ connectionString: appliance.env.DATABASE_URL });
    await db.connect();
  });

  afterAll(async () => {
    await db.end();
    await appliance.dispose();
  });

  it("answers each peer with its site's other live peers and the ttl", async () => {
    const [a, b, c] = [peerId(), peerId(), peerId()];
    const first = await register({ site: 'plant-7', peerId: a, addrs: [addr(a)], httpUrl: 'http://10.0.0.2:8090' });
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ peers: [], ttlSeconds: 30 });

    await register({ site: 'plant-7', peerId: b, addrs: [addr(b, 4011), `/ip6/fe80::1/tcp/4011/p2p/${b}`] });
    const third = await register({ site: 'plant-7', peerId: c, addrs: [addr(c, 4012)] });
    expect(third.body.peers).toEqual([
      { peerId: b, addrs: [addr(b, 4011), `/ip6/fe80::1/tcp/4011/p2p/${b}`], lastSeen: expect.any(String) },
      { peerId: a, addrs: [addr(a)], httpUrl: 'http://10.0.0.2:8090', lastSeen: expect.any(String) },
    ]);
    expect(new Date(third.body.peers[0].lastSeen).getTime()).toBeGreaterThan(Date.now() - 60_000);

    // Registering again refreshes the entry (new addresses) instead of adding one.
    await register({ site: 'plant-7', peerId: a, addrs: [addr(a, 5000)] });
    const again = await register({ site: 'plant-7', peerId: c, addrs: [addr(c, 4012)] });
    expect(again.body.peers.map((p: { peerId: string }) => p.peerId)).toEqual([a, b]);
    expect(again.body.peers[0].addrs).toEqual([addr(a, 5000)]);
  });

  it('keeps sites apart', async () => {
    const [a, b] = [peerId(), peerId()];
    await register({ site: 'site-north', peerId: a, addrs: [addr(a)] });
    const other = await register({ site: 'site-south', peerId: b, addrs: [addr(b)] });
    expect(other.body.peers).toEqual([]);
  });

  it('forgets a peer once its entry has expired', async () => {
    const [a, b] = [peerId(), peerId()];
    await register({ site: 'expiring', peerId: a, addrs: [addr(a)] });
    expect((await register({ site: 'expiring', peerId: b, addrs: [addr(b)] })).body.peers).toHaveLength(1);

    // As if PEER_ROSTER_TTL_SECONDS had passed since a last registered.
    await db.query(`UPDATE peer_roster SET expires_at = now() - interval '1 second' WHERE peer_id = $1`, [a]);
    expect((await register({ site: 'expiring', peerId: b, addrs: [addr(b)] })).body.peers).toEqual([]);
    const rows = await db.query(`SELECT peer_id FROM peer_roster WHERE site = 'expiring'`);
    expect(rows.rows.map((row) => row.peer_id)).toEqual([b]);
  });

  it('shares the roster between replicas on one database', async () => {
    const replica = await startTestApp({ replicaOf: appliance });
    try {
      const [a, b] = [peerId(), peerId()];
      await register({ site: 'replicated', peerId: a, addrs: [addr(a)] });
      const viaReplica = await register({ site: 'replicated', peerId: b, addrs: [addr(b)] }, {}, replica);
      expect(viaReplica.body.peers.map((p: { peerId: string }) => p.peerId)).toEqual([a]);
    } finally {
      await replica.stop();
    }
  });

  it.each([
    ['a site name with a slash', () => ({ site: 'plant/7', peerId: peerId(), addrs: [] })],
    ['a peer id that is not base58', () => ({ site: 'plant-7', peerId: '12D3KooW0000000000000000000000000000000000000000000O', addrs: [] })],
    ['a peer id of the wrong length', () => ({ site: 'plant-7', peerId: '12D3KooWabc', addrs: [] })],
    ['17 addresses', () => ({ site: 'plant-7', peerId: peerId(), addrs: Array.from({ length: 17 }, (_, i) => `/ip4/10.0.0.${i}/tcp/4010`) })],
    ['an address over 256 characters', () => ({ site: 'plant-7', peerId: peerId(), addrs: [`/dns/${'a'.repeat(250)}/tcp/4010`] })],
    ['an address that is not a multiaddr', () => ({ site: 'plant-7', peerId: peerId(), addrs: ['10.0.0.2:4010'] })],
    ["another peer's address", () => ({ site: 'plant-7', peerId: peerId(), addrs: [addr(peerId())] })],
    ['an httpUrl that is not http(s)', () => ({ site: 'plant-7', peerId: peerId(), addrs: [], httpUrl: 'ftp://10.0.0.2' })],
    ['an unknown field', () => ({ site: 'plant-7', peerId: peerId(), addrs: [], role: 'admin' })],
  ])('refuses %s with 400', async (_label, body) => {
    const response = await register(body());
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({ statusCode: 400, error: 'Bad Request' });
  });

  it(`refuses a new peer with 409 once a site has ${MAX_PEERS_PER_SITE} live peers, but still refreshes those it has`, async () => {
    const ids = Array.from({ length: MAX_PEERS_PER_SITE }, peerId);
    await db.query(
      `INSERT INTO peer_roster (site, peer_id, addrs, last_seen, expires_at)
       SELECT 'crowded', id, ARRAY['/ip4/10.0.0.9/tcp/4010/p2p/' || id], now(), now() + interval '1 minute' FROM unnest($1::text[]) AS id`,
      [ids],
    );
    const newcomer = peerId();
    const refused = await register({ site: 'crowded', peerId: newcomer, addrs: [addr(newcomer)] });
    expect(refused.status).toBe(409);
    const known = await register({ site: 'crowded', peerId: ids[0], addrs: [addr(ids[0])] });
    expect(known.status).toBe(200);
    expect(known.body.peers).toHaveLength(MAX_PEERS_PER_SITE - 1);
  });
});

describe('the site roster on the embedded database', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ database: 'embedded' });
  });

  afterAll(async () => appliance.dispose());

  it('answers the same shapes as on PostgreSQL', async () => {
    const [a, b] = [peerId(), peerId()];
    await sendJson('POST', `${appliance.url}/peers/register`, { site: 'plant-7', peerId: a, addrs: [addr(a), addr(a, 4011)], httpUrl: 'http://10.0.0.2:8090' }, {});
    const answer = await sendJson('POST', `${appliance.url}/peers/register`, { site: 'plant-7', peerId: b, addrs: [] }, {});
    expect(answer).toEqual({
      status: 200,
      body: { peers: [{ peerId: a, addrs: [addr(a), addr(a, 4011)], httpUrl: 'http://10.0.0.2:8090', lastSeen: expect.any(String) }], ttlSeconds: 60 },
    });
  });
});

describe('the site roster with DEVICE_AUTH=token', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ env: { DEVICE_AUTH: 'token' } });
  });

  afterAll(async () => appliance.dispose());

  it('accepts an agent registered as a device with its token, and nobody else', async () => {
    const registered = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'gw-plant-7-a' });
    expect(registered.status).toBe(201);
    const token: string = registered.body.token;
    const id = peerId();
    const body = { site: 'plant-7', peerId: id, addrs: [addr(id)], deviceId: 'gw-plant-7-a' };

    expect((await sendJson('POST', `${appliance.url}/peers/register`, body, {})).status).toBe(401);
    expect((await sendJson('POST', `${appliance.url}/peers/register`, body, { authorization: 'Bearer dev_wrong' })).status).toBe(401);
    const { deviceId: _omitted, ...anonymous } = body;
    expect((await sendJson('POST', `${appliance.url}/peers/register`, anonymous, { authorization: `Bearer ${token}` })).status).toBe(401);
    const accepted = await sendJson('POST', `${appliance.url}/peers/register`, body, { authorization: `Bearer ${token}` });
    expect(accepted.status).toBe(200);
    expect(accepted.body).toEqual({ peers: [], ttlSeconds: 60 });
  });

  /** Registers a device (with attributes) and answers a function that registers peers as that device. */
  async function gateway(id: string, attributes?: Record<string, string>) {
    const registered = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id, ...(attributes ? { attributes } : {}) });
    expect(registered.status).toBe(201);
    const token: string = registered.body.token;
    const registerPeer = (site: string, peer: string, addrs = [addr(peer)]) =>
      sendJson('POST', `${appliance.url}/peers/register`, { site, peerId: peer, addrs, deviceId: id }, { authorization: `Bearer ${token}` });
    return { token, registerPeer };
  }

  it('binds a peer id to the device that first registered it, until an operator releases it', async () => {
    const owner = await gateway('gw-owner');
    const intruder = await gateway('gw-intruder');
    const [claimed, intruders] = [peerId(), peerId()];
    expect((await owner.registerPeer('site-east', claimed)).status).toBe(200);

    // The spoof the outside test found: another device, another site, foreign addresses.
    const spoofed = await intruder.registerPeer('site-west', claimed, [`/ip4/203.0.113.9/tcp/4010/p2p/${claimed}`]);
    expect(spoofed.status).toBe(409);
    expect(spoofed.body).toEqual({ statusCode: 409, error: 'Conflict', message: expect.stringMatching(/peer id .* is bound to another device.*DELETE \/api\/v1\/peers\//) });
    expect((await intruder.registerPeer('site-east', claimed, [`/ip4/203.0.113.9/tcp/4010/p2p/${claimed}`])).status).toBe(409);
    const west = await intruder.registerPeer('site-west', intruders);
    expect(west.body.peers).toEqual([]);
    const east = await intruder.registerPeer('site-east', intruders);
    expect(east.body.peers).toEqual([{ peerId: claimed, addrs: [addr(claimed)], lastSeen: expect.any(String) }]);
    expect((await owner.registerPeer('site-east', claimed, [addr(claimed, 4020)])).status).toBe(200);

    // Releasing is an operator's act (write scope), and takes the peer out of every roster at once.
    expect((await sendJson('DELETE', `${appliance.url}/api/v1/peers/${claimed}`, undefined, {})).status).toBe(401);
    expect((await sendJson('DELETE', `${appliance.url}/api/v1/peers/${claimed}`, undefined)).status).toBe(204);
    expect((await intruder.registerPeer('site-east', intruders)).body.peers).toEqual([]);
    expect((await sendJson('DELETE', `${appliance.url}/api/v1/peers/${claimed}`, undefined)).status).toBe(404);
    const badId = await sendJson('DELETE', `${appliance.url}/api/v1/peers/not-a-peer-id`, undefined);
    expect(badId).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: [expect.stringMatching(/peerId/)] } });

    // Once released, the id goes to whichever device registers it next.
    expect((await intruder.registerPeer('site-west', claimed)).status).toBe(200);
    expect((await owner.registerPeer('site-east', claimed)).status).toBe(409);
  });

  it('lets a device register only in the site its registration names', async () => {
    const placed = await gateway('gw-placed', { site: 'plant-7', cpuArch: 'armv8' });
    const id = peerId();
    const elsewhere = await placed.registerPeer('plant-9', id);
    expect(elsewhere).toEqual({ status: 403, body: { statusCode: 403, error: 'Forbidden', message: expect.stringMatching(/gw-placed .*site plant-7.*plant-9/) } });
    expect((await placed.registerPeer('plant-7', id)).status).toBe(200);

    // The device cannot move itself by checking in with another site attribute over MQTT.
    const mqttUrl = `mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`;
    const device = await connectDevice(mqttUrl, 'gw-placed', { username: 'gw-placed', password: placed.token });
    try {
      await subscribe(device, 'ota/v1/devices/gw-placed/offer');
      const offer = nextMessage(device, 'ota/v1/devices/gw-placed/offer');
      await publish(device, 'ota/v1/devices/gw-placed/check', JSON.stringify({ requestId: 'move', attributes: { cpuArch: 'armv8', site: 'plant-9' }, installed: [] }));
      await offer;
    } finally {
      await endAll(device);
    }
    const reported = await until(
      () => getJson(`${appliance.url}/api/v1/devices/gw-placed`),
      (answer) => answer.body?.attributes?.site === 'plant-9',
    );
    expect(reported.body.attributes.site).toBe('plant-9');
    expect((await placed.registerPeer('plant-9', peerId())).status).toBe(403);

    // A registration that names no site may register anywhere.
    const roaming = await gateway('gw-roaming', { cpuArch: 'armv8' });
    expect((await roaming.registerPeer('plant-9', peerId())).status).toBe(200);
  });

  it('refuses to register a device whose site attribute is not a site id', async () => {
    const refused = await sendJson('POST', `${appliance.url}/api/v1/devices`, { id: 'gw-bad-site', attributes: { site: 'plant 7/north' } });
    expect(refused).toEqual({ status: 400, body: { statusCode: 400, error: 'Bad Request', message: expect.stringMatching(/site/) } });
  });
});
