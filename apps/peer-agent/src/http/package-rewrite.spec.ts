import { deviceBaseUrl, rewritePackageUrls } from './package-rewrite';

const sha = 'ab'.repeat(32);

describe(rewritePackageUrls.name, () => {
  it('rewrites by sha256, including presigned storage URLs', () => {
    const doc = {
      os_armv8: { url: 'https://minio.example/bucket/artifacts/x?X-Amz-Signature=1', manifestUrl: `https://ota/manifests/${sha}`, sha256: sha, status_code: 200 },
    };
    expect(rewritePackageUrls(doc, 'http://gw:8090')).toEqual({
      os_armv8: { url: `http://gw:8090/artifacts/${sha}`, manifestUrl: `http://gw:8090/manifests/${sha}`, sha256: sha, status_code: 200 },
    });
  });

  it('finds the artifact in the URL when sha256 is absent, and leaves unknown shapes alone', () => {
    const doc = { a: { url: `https://ota/artifacts/${sha}` }, b: { url: 'https://elsewhere/file.bin' }, c: 'text' };
    expect(rewritePackageUrls(doc, 'http://gw')).toEqual({ a: { url: `http://gw/artifacts/${sha}` }, b: { url: 'https://elsewhere/file.bin' }, c: 'text' });
  });
});

describe(deviceBaseUrl.name, () => {
  it('prefers --public-url, then the Host header, then the fallback', () => {
    expect(deviceBaseUrl('https://gw.example', 'x:1', 'http://f')).toBe('https://gw.example');
    expect(deviceBaseUrl(undefined, '10.0.0.5:8090', 'http://f')).toBe('http://10.0.0.5:8090');
    expect(deviceBaseUrl(undefined, '[fe80::1]:8090', 'http://f')).toBe('http://[fe80::1]:8090');
  });

  it('does not echo a Host header that is not a plain host[:port] into URLs', () => {
    expect(deviceBaseUrl(undefined, 'evil.example/"><script>', 'http://10.0.0.5:8090')).toBe('http://10.0.0.5:8090');
    expect(deviceBaseUrl(undefined, undefined, 'http://10.0.0.5:8090')).toBe('http://10.0.0.5:8090');
  });
});
