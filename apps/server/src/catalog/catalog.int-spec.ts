import { startTestApp, type TestApp } from '../../../../test/support/app';
import { sendJson, upload } from '../../../../test/support/http';

async function offeredVersion(appliance: TestApp): Promise<string | undefined> {
  const response = await fetch(`${appliance.url}/package?cpuArch=armv8&payloadType=metadataOnly`);
  if (response.status !== 200) return undefined;
  return ((await response.json()) as any).os_armv8.latestVersion;
}

async function eventually<T>(probe: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  for (;;) {
    const value = await probe();
    if (accept(value) || Date.now() - started > timeoutMs) return { value, ms: Date.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('the cached catalog on two replicas of one PostgreSQL', () => {
  let first: TestApp;
  let second: TestApp;

  beforeAll(async () => {
    first = await startTestApp();
    second = await startTestApp({ replicaOf: first });
  });

  afterAll(async () => {
    await second.stop();
    await first.dispose();
  });

  it('shows a channel change made on one replica to checks on the other within a second', async () => {
    await upload(first.url, 'os_armv8', '1.0.0', Buffer.from('one'));
    await upload(first.url, 'os_armv8', '2.0.0', Buffer.from('two'));
    await sendJson('PUT', `${first.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });
    expect((await eventually(() => offeredVersion(second), (v) => v === '1.0.0', 1000)).value).toBe('1.0.0');

    await sendJson('PUT', `${second.url}/api/v1/components/os_armv8/channels/prod`, { version: '2.0.0' });
    expect(await offeredVersion(second)).toBe('2.0.0');
    const seen = await eventually(() => offeredVersion(first), (v) => v === '2.0.0', 1000);
    expect(seen.value).toBe('2.0.0');
  });

  it('serves an upload made on one replica from the other', async () => {
    const stored = await upload(second.url, 'modemFW', '3.0', Buffer.from('modem firmware'));
    const download = await fetch(`${first.url}/artifacts/${stored.body.sha256}`);
    expect(await download.text()).toBe('modem firmware');
  });
});
