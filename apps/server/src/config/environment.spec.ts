import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppConfig } from './app-config';
import { ConfigError, describeVariables, parseEnvironment } from './environment';

describe(parseEnvironment.name, () => {
  it('runs on embedded defaults with no environment at all', () => {
    const config = new AppConfig(parseEnvironment({}));
    expect(config.port).toBe(8080);
    expect(config.mqttPort).toBe(1883);
    expect(config.mqttWsPort).toBe(8083);
    expect(config.cacheTtlSeconds).toBe(100);
    expect(config.deviceAuth).toBe('none');
    expect(config.database.kind).toBe('embedded');
    expect(config.storage.kind).toBe('filesystem');
    expect(config.redis).toBeUndefined();
    expect(config.publicBaseUrl).toBe('http://localhost:8080');
  });

  it('sets every HTTP timeout explicitly: headers bounded, whole request unbounded, idle and keep-alive past a proxy’s 60 s', () => {
    expect(new AppConfig(parseEnvironment({})).http).toEqual({
      headersTimeoutSeconds: 60,
      requestTimeoutSeconds: 0,
      idleTimeoutSeconds: 120,
      keepAliveTimeoutSeconds: 65,
      maxHeaderBytes: 16384,
    });
  });

  it('refuses a whole-request timeout shorter than the headers timeout', () => {
    expect(() => parseEnvironment({ HTTP_REQUEST_TIMEOUT_SECONDS: '30', HTTP_HEADERS_TIMEOUT_SECONDS: '60' })).toThrow(/HTTP_REQUEST_TIMEOUT_SECONDS/);
    expect(parseEnvironment({ HTTP_REQUEST_TIMEOUT_SECONDS: '3600' }).HTTP_REQUEST_TIMEOUT_SECONDS).toBe(3600);
  });

  it('switches to the real services when their variables are set', () => {
    const config = new AppConfig(
      parseEnvironment({
        DATABASE_URL: 'postgres://ota@db:5432/ota',
        REDIS_URL: 'redis://redis:6379',
        S3_ENDPOINT: 'http://minio:9000',
        S3_ACCESS_KEY: 'ak',
        S3_SECRET_KEY: 'sk',
        PUBLIC_BASE_URL: 'https://ota.example.com/',
      }),
    );
    expect(config.database).toEqual({ kind: 'postgres', url: 'postgres://ota@db:5432/ota' });
    expect(config.redis).toEqual({ url: 'redis://redis:6379', prefix: 'ota' });
    expect(config.storage).toMatchObject({ kind: 's3', endpoint: 'http://minio:9000', bucket: 'ota-artifacts' });
    expect(config.publicBaseUrl).toBe('https://ota.example.com');
  });

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ DEVICE_AUTH: 'password' }, 'DEVICE_AUTH'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ S3_ENDPOINT: 'http://minio:9000' }, 'S3_ACCESS_KEY'],
    [{ ADMIN_API_KEY: 'short' }, 'ADMIN_API_KEY'],
    [{ CACHE_TTL_SECONDS: '-1' }, 'CACHE_TTL_SECONDS'],
    [{ HTTP_HEADERS_TIMEOUT_SECONDS: '0' }, 'HTTP_HEADERS_TIMEOUT_SECONDS'],
    [{ HTTP_MAX_HEADER_BYTES: '100' }, 'HTTP_MAX_HEADER_BYTES'],
    [{ PUBLIC_BASE_URL: 'ota.example.com' }, 'PUBLIC_BASE_URL'],
  ])('names the bad variable in %j', (env, variable) => {
    expect(() => parseEnvironment(env)).toThrow(ConfigError);
    try {
      parseEnvironment(env);
    } catch (error) {
      expect((error as ConfigError).problems.some((problem) => problem.startsWith(`${variable}:`))).toBe(true);
    }
  });

  it('never echoes a secret in its error', () => {
    expect(() => parseEnvironment({ DATABASE_URL: 'mysql://user:hunter2@db' })).toThrow(/DATABASE_URL/);
    expect(() => parseEnvironment({ DATABASE_URL: 'mysql://user:hunter2@db' })).not.toThrow(/hunter2/);
  });

  it('has every variable it reads in the README’s configuration table', () => {
    const readme = readFileSync(join(__dirname, '..', '..', '..', '..', 'README.md'), 'utf8');
    const missing = describeVariables().filter((variable) => !readme.includes(`| \`${variable.name}\` |`));
    expect(missing.map((variable) => variable.name)).toEqual([]);
  });

  it('documents every variable it reads', () => {
    const names = describeVariables().map((variable) => variable.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'PORT',
        'MQTT_PORT',
        'MQTT_WS_PORT',
        'DATA_DIR',
        'PUBLIC_BASE_URL',
        'ADMIN_API_KEY',
        'DATABASE_URL',
        'REDIS_URL',
        'S3_ENDPOINT',
        'S3_ACCESS_KEY',
        'S3_SECRET_KEY',
        'S3_BUCKET',
        'S3_REGION',
        'CACHE_TTL_SECONDS',
        'MAX_UPLOAD_BYTES',
        'DEVICE_AUTH',
        'LOG_LEVEL',
      ]),
    );
    expect(new Set(names).size).toBe(names.length);
  });
});
