import { resolve } from 'node:path';
import { ConfigError, parseByteSize, parseConfig, type AgentConfig } from './agent-config';

const base = ['--origin', 'https://ota.example.com/', '--site', 'plant-7', '--cache', '/var/lib/ota-peer'];

function config(argv: string[], env: NodeJS.ProcessEnv = {}): AgentConfig {
  const result = parseConfig(argv, env);
  if ('help' in result) throw new Error('unexpected help');
  return result;
}

describe(parseConfig.name, () => {
  it('reads the documented options with defaults for the rest', () => {
    const c = config(base);
    expect(c).toMatchObject({
      origin: 'https://ota.example.com',
      site: 'plant-7',
      cacheDir: '/var/lib/ota-peer',
      httpPort: 8090,
      p2pPort: 4010,
      mdns: true,
      p2p: true,
      roster: true,
      bootstrap: [],
      trustKeys: [],
      uploadLimit: undefined,
      cacheMaxBytes: 10 * 1024 ** 3,
      logLevel: 'info',
      testFaults: { corruptServedChunks: false },
    });
  });

  it('takes every setting from the environment', () => {
    const c = config([], {
      OTA_ORIGIN: 'http://origin:8080',
      OTA_SITE: 'plant-9',
      OTA_CACHE_DIR: 'cache',
      OTA_HTTP_PORT: '9000',
      OTA_P2P_PORT: '0',
      OTA_BOOTSTRAP: '/ip4/10.0.0.2/tcp/4010/p2p/12D3KooWLLvBFcDQEbCMSGoKDCaKG38USkZZJ8wejnqwP9aZzAxa, /dns4/gw2/tcp/4010/p2p/12D3KooWDPfvMh9XT6XnmgUdy86YdVi5a2z75Q7yEZNVBCa6iwfc',
      OTA_UPLOAD_LIMIT: '10MiB',
      OTA_TRUST_KEYS: 'xUxx79FtV9TKQHGMohXxYITgEuY8eimeW+keERqY8V8=,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=',
      OTA_CACHE_MAX_BYTES: '2G',
      OTA_MDNS: 'false',
      OTA_P2P: 'true',
      OTA_LOG_LEVEL: 'debug',
    });
    expect(c).toMatchObject({
      origin: 'http://origin:8080',
      site: 'plant-9',
      cacheDir: resolve('cache'),
      httpPort: 9000,
      p2pPort: 0,
      uploadLimit: 10 * 1024 * 1024,
      cacheMaxBytes: 2 * 1024 ** 3,
      mdns: false,
      p2p: true,
      logLevel: 'debug',
    });
    expect(c.bootstrap).toHaveLength(2);
    expect(c.trustKeys).toEqual(['xUxx79FtV9TKQHGMohXxYITgEuY8eimeW+keERqY8V8=', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=']);
  });

  it('lets the command line win over the environment', () => {
    const c = config([...base, '--http-port', '8100', '--no-mdns', '--upload-limit', '512k'], {
      OTA_HTTP_PORT: '9000',
      OTA_MDNS: 'true',
      OTA_UPLOAD_LIMIT: '1G',
      OTA_SITE: 'other',
    });
    expect(c.httpPort).toBe(8100);
    expect(c.mdns).toBe(false);
    expect(c.uploadLimit).toBe(512 * 1024);
    expect(c.site).toBe('plant-7');
  });

  it('keeps PEM keys whole, several per variable', () => {
    const pem = '-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAxUxx79FtV9TKQHGMohXxYITgEuY8eimeW+keERqY8V8=\n-----END PUBLIC KEY-----';
    const c = config(base, { OTA_TRUST_KEYS: `${pem}\n${pem}` });
    expect(c.trustKeys).toEqual([pem, pem]);
  });

  it("takes the agent's device identity for origins with DEVICE_AUTH=token, the token preferably from the environment", () => {
    expect(config(base).device).toBeUndefined();
    expect(config([...base, '--device-id', 'gw-plant-7-a'], { OTA_DEVICE_TOKEN: 'dev_secret' }).device).toEqual({ id: 'gw-plant-7-a', token: 'dev_secret' });
    expect(() => parseConfig([...base, '--device-id', 'gw-plant-7-a'], {})).toThrow(/--device-id and --device-token/);
    expect(() => parseConfig(base, { OTA_DEVICE_ID: 'gw 7', OTA_DEVICE_TOKEN: 'x' })).toThrow(/OTA_DEVICE_ID must be/);
  });

  it('does not require a site with --no-p2p (the reference run)', () => {
    const c = config(['--origin', 'http://o', '--cache', '/tmp/c', '--no-p2p']);
    expect(c.p2p).toBe(false);
  });

  it.each([
    ['a missing origin', ['--site', 'a', '--cache', '/c'], /--origin/],
    ['a non-http origin', ['--origin', 'ftp://x', '--site', 'a', '--cache', '/c'], /--origin must be an http\(s\) URL/],
    ['a missing site', ['--origin', 'http://o', '--cache', '/c'], /--site/],
    ['a missing cache', ['--origin', 'http://o', '--site', 'a'], /--cache/],
    ['a port above 65535', [...base, '--http-port', '70000'], /--http-port must be a TCP port/],
    ['a port that is not a number', [...base, '--p2p-port', 'abc'], /--p2p-port must be a TCP port/],
    ['a rate that is not a size', [...base, '--upload-limit', 'fast'], /--upload-limit must be a size/],
    ['a tiny cache', [...base, '--cache-max-bytes', '1k'], /at least 16MiB/],
    ['a site with spaces', [...base, '--site', 'bad site!'], /--site must be/],
    ['a bootstrap address without /p2p', [...base, '--bootstrap', '/ip4/1.2.3.4/tcp/1'], /--bootstrap must look like/],
    ['an unknown log level', [...base, '--log-level', 'loud'], /--log-level must be one of/],
    ['an unknown option', [...base, '--frobnicate'], /unknown option '--frobnicate'/],
  ])('rejects %s with a message naming the option', (_what, argv, message) => {
    expect(() => parseConfig(argv, {})).toThrow(ConfigError);
    expect(() => parseConfig(argv, {})).toThrow(message);
  });

  it('names the environment variable when it is the bad one', () => {
    expect(() => parseConfig(base, { OTA_P2P_PORT: '-1' })).toThrow(/OTA_P2P_PORT/);
    expect(() => parseConfig(base, { OTA_MDNS: 'maybe' })).toThrow(/OTA_MDNS must be true or false/);
  });

  it('returns the help text instead of exiting', () => {
    const result = parseConfig(['--help'], {});
    expect('help' in result && result.help).toContain('--upload-limit');
  });

  it('turns on the hidden corruption fault only through its test variable', () => {
    expect(config(base, { OTA_TEST_CORRUPT_SERVED_CHUNKS: '1' }).testFaults.corruptServedChunks).toBe(true);
    const help = parseConfig(['--help'], {});
    expect('help' in help && help.help).not.toMatch(/corrupt/i);
  });
});

describe(parseByteSize.name, () => {
  it.each([
    ['1048576', 1048576],
    ['512k', 512 * 1024],
    ['10MiB', 10 * 1024 ** 2],
    ['1.5G', 1.5 * 1024 ** 3],
  ])('parses %s', (text, bytes) => expect(parseByteSize(text, 'x')).toBe(bytes));
});
