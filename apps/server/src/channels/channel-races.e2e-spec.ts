import { Client } from 'pg';
import { adminHeaders, startTestApp, type TestApp } from '@test/support/app';
import { sendJson, upload } from '@test/support/http';

const PAIRS = 40;

/**
 * Concurrent admin writes on PostgreSQL: whichever request of a racing pair wins, each answers
 * what it would have answered had the two come one after the other, never a 500.
 */
describe('racing channel and version writes (PostgreSQL)', () => {
  let appliance: TestApp;
  let db: Client;

  beforeAll(async () => {
    appliance = await startTestApp();
    db = new Client({ connectionString: appliance.env.DATABASE_URL });
    await db.connect();
  });

  afterAll(async () => {
    await db?.end();
    await appliance?.dispose();
  });

  const deleteVersion = async (component: string, version: string) =>
    (await fetch(`${appliance.url}/api/v1/components/${component}/versions/${version}`, { method: 'DELETE', headers: adminHeaders() })).status;

  it(`deleting a version while a channel is pointed at it answers as one after the other would, never 500 (${PAIRS} pairs)`, async () => {
    for (let i = 0; i < PAIRS; i++) {
      expect((await upload(appliance.url, 'raceOS', `1.0.${i}`, Buffer.from(`race binary ${i}`))).status).toBe(201);
    }
    // One pair at a time, so the two requests of a pair meet in the database rather than queueing for the pool.
    const pairs: { i: number; deleted: number; pointed: number; message?: string }[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const [pointed, deleted] = await Promise.all([
        sendJson('PUT', `${appliance.url}/api/v1/components/raceOS/channels/ch${i}`, { version: `1.0.${i}` }),
        deleteVersion('raceOS', `1.0.${i}`),
      ]);
      pairs.push({ i, deleted, pointed: pointed.status, message: pointed.body?.message as string | undefined });
    }

    const channels = new Map(
      (
        (await db.query(`SELECT ch.name, a.version FROM channels ch JOIN artifacts a ON a.id = ch.artifact_id JOIN components c ON c.id = ch.component_id WHERE c.name = 'raceOS'`))
          .rows as { name: string; version: string }[]
      ).map((row) => [row.name, row.version]),
    );
    const versions = new Set(
      ((await db.query(`SELECT a.version FROM artifacts a JOIN components c ON c.id = a.component_id WHERE c.name = 'raceOS'`)).rows as { version: string }[]).map(
        (row) => row.version,
      ),
    );
    const dangling = await db.query(`SELECT ch.name FROM channels ch LEFT JOIN artifacts a ON a.id = ch.artifact_id WHERE a.id IS NULL`);
    expect(dangling.rows).toEqual([]);
    for (const pair of pairs) {
      const version = `1.0.${pair.i}`;
      // Point then delete: 201 and 409. Delete then point: 204 and 400 (no such version). The database agrees.
      const pointedFirst = pair.pointed === 201 && pair.deleted === 409;
      const deletedFirst = pair.deleted === 204 && pair.pointed === 400;
      expect({ ...pair, outcome: pointedFirst || deletedFirst ? 'sequential' : 'not sequential' }).toMatchObject({ outcome: 'sequential' });
      if (pointedFirst) {
        expect(channels.get(`ch${pair.i}`)).toBe(version);
        expect(versions.has(version)).toBe(true);
      } else {
        expect(pair.message).toMatch(/has no version/);
        expect(channels.has(`ch${pair.i}`)).toBe(false);
        expect(versions.has(version)).toBe(false);
      }
    }
  });

  it('creating one channel from several requests at once creates it once and moves it, never 500', async () => {
    const versions = ['2.0.0', '2.0.1', '2.0.2', '2.0.3', '2.0.4', '2.0.5'];
    for (const version of versions) expect((await upload(appliance.url, 'raceCam', version, Buffer.from(`camera ${version}`))).status).toBe(201);
    const answers = await Promise.all(versions.map((version) => sendJson('PUT', `${appliance.url}/api/v1/components/raceCam/channels/prod`, { version })));
    expect(answers.map((answer) => answer.status).sort()).toEqual([200, 200, 200, 200, 200, 201]);
    const rows = (await db.query(`SELECT ch.name FROM channels ch JOIN components c ON c.id = ch.component_id WHERE c.name = 'raceCam'`)).rows;
    expect(rows).toEqual([{ name: 'prod' }]);
  });
});
