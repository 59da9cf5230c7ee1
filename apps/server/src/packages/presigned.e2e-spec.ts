import { startTestApp, type TestApp } from '@test/support/app';
import { sendJson, upload } from '@test/support/http';

describe('offers with presigned S3 URLs (DOWNLOAD_URLS=presigned)', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp({ storage: 's3', env: { DOWNLOAD_URLS: 'presigned', PRESIGNED_URL_TTL_SECONDS: '600' } });
  });

  afterAll(async () => appliance.dispose());

  it('offers a time-limited store URL that downloads the binary, the same one for repeated checks', async () => {
    const stored = await upload(appliance.url, 'os_armv8', '1.0.0', Buffer.from('presigned firmware'), { headers: { 'content-length': '18' } });
    await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });

    const check = async () => ((await (await fetch(`${appliance.url}/package?cpuArch=armv8&payloadType=metadataOnly`)).json()) as any).os_armv8;
    const offer = await check();
    expect(offer.url.startsWith(appliance.env.S3_ENDPOINT)).toBe(true);
    expect(offer.url).toContain('X-Amz-Signature=');
    expect(offer.url).toContain('X-Amz-Expires=600');
    expect((await check()).url).toBe(offer.url);

    const download = await fetch(offer.url);
    expect(download.status).toBe(200);
    expect(await download.text()).toBe('presigned firmware');
    expect(offer.sha256).toBe(stored.body.sha256);
  });
});
