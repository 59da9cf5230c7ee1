import { join } from 'node:path';
import { SAMPLE_DATA } from '../../apps/server/src/tools/sample-data';
import { startTestApp, TEST_ADMIN_KEY, type TestApp } from '../support/app';
import { getJson } from '../support/http';
import { repoRoot, runNode } from '../support/process';

const seedScript = join(repoRoot, 'dist', 'apps', 'server', 'src', 'tools', 'seed-sample.js');

describe('npm run seed:sample', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp();
  });

  afterAll(async () => appliance.dispose());

  async function seed() {
    const run = runNode(seedScript, [], { OTA_URL: appliance.url, OTA_API_KEY: TEST_ADMIN_KEY, SAMPLE_SIZE_BYTES: String(64 * 1024) });
    const code = await run.exited;
    return { code, output: run.output() };
  }

  it('loads the reference table through the admin API, and a second run changes nothing', async () => {
    const first = await seed();
    expect(first.code).toBe(0);
    expect(first.output).toContain('13 of 13 versions uploaded now');

    for (const sample of SAMPLE_DATA) {
      const versions = await getJson(`${appliance.url}/api/v1/components/${sample.component}/versions`);
      expect(versions.body.map((v: { version: string }) => v.version).sort()).toEqual(sample.versions.map((v) => v.version).sort());
      for (const channel of sample.channels) {
        const current = await getJson(`${appliance.url}/api/v1/components/${sample.component}/channels/${channel.channel}`);
        expect(current.body).toMatchObject({ version: channel.version, attributes: [...channel.attributes].sort(), size: 64 * 1024 });
      }
    }
    const ipModule = await getJson(`${appliance.url}/api/v1/components/ipModule/versions/6.15.008`);
    expect(ipModule.body.requiresFrom).toBe('5.6.30');

    const before = await getJson(`${appliance.url}/api/v1/components/os_armv8/versions`);
    const second = await seed();
    expect(second.code).toBe(0);
    expect(second.output).toContain('0 of 13 versions uploaded now (13 were there)');
    expect((await getJson(`${appliance.url}/api/v1/components/os_armv8/versions`)).body).toEqual(before.body);
  });

  it('fails clearly with a wrong key', async () => {
    const run = runNode(seedScript, [], { OTA_URL: appliance.url, OTA_API_KEY: 'wrong' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('refused the API key (401)');
  });
});
