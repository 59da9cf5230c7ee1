import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeVariables, parseEnvironment } from '../../apps/server/src/config/environment';
import { parseConfig } from '../../apps/peer-agent/src/config/agent-config';
import { environmentOf, interpolate, loadCompose, nginxTemplatesDir, peerAgentVariables, repoRoot, type ComposeService } from './deploy-files';

const compose = loadCompose();
const services = compose.services;
const appliance = services.appliance;
const applianceEnv = environmentOf(appliance);
const nginx = services.nginx;
const nginxEnv = environmentOf(nginx);
const peerAgents = Object.entries(services).filter(([name]) => name.startsWith('peer-agent'));

/** `a:b`, `a:b:ro` or `host:container` short syntax. */
const splitMount = (entry: string) => {
  const [source, target] = entry.split(':');
  return { source, target };
};
const publishedPorts = (service: ComposeService) =>
  (service.ports ?? []).map((entry) => {
    const parts = interpolate(entry).split(':');
    return { host: Number(parts[parts.length - 2]), container: Number(parts[parts.length - 1]) };
  });

describe('docker-compose.yml', () => {
  it('runs the appliance, PostgreSQL, Redis, MinIO, the nginx cache, the sample loader and two peer agents', () => {
    expect(Object.keys(services).sort()).toEqual(['appliance', 'minio', 'nginx', 'peer-agent-1', 'peer-agent-2', 'postgres', 'redis', 'seed-sample']);
    expect(appliance.deploy?.replicas).toBe(2);
    expect(appliance.build).toBe('.');
  });

  it('gives the appliance every variable of the config class, so a new one cannot be forgotten here', () => {
    const missing = describeVariables()
      .map((variable) => variable.name)
      .filter((name) => !(name in applianceEnv));
    expect(missing).toEqual([]);
    const unknown = Object.keys(applianceEnv).filter((name) => !describeVariables().some((variable) => variable.name === name));
    expect(unknown).toEqual([]);
  });

  it("gives the appliance a configuration its own validation accepts, on the compose services' addresses", () => {
    expect(() => parseEnvironment(applianceEnv)).not.toThrow();
    // Stateless replicas: database, queue and binaries live in the other services.
    expect(new URL(applianceEnv.DATABASE_URL).hostname).toBe('postgres');
    expect(new URL(applianceEnv.REDIS_URL).hostname).toBe('redis');
    expect(new URL(applianceEnv.S3_ENDPOINT).hostname).toBe('minio');
    expect(applianceEnv.S3_ACCESS_KEY).toBe(environmentOf(services.minio).MINIO_ROOT_USER);
    expect(applianceEnv.S3_SECRET_KEY).toBe(environmentOf(services.minio).MINIO_ROOT_PASSWORD);
    const database = new URL(applianceEnv.DATABASE_URL);
    const postgres = environmentOf(services.postgres);
    expect([database.username, database.password, database.pathname.slice(1)]).toEqual([postgres.POSTGRES_USER, postgres.POSTGRES_PASSWORD, postgres.POSTGRES_DB]);
  });

  it('shares one signing key between the replicas through a named volume at the key file’s folder', () => {
    const keyFolder = applianceEnv.SIGNING_KEY_FILE.slice(0, applianceEnv.SIGNING_KEY_FILE.lastIndexOf('/'));
    const mount = (appliance.volumes ?? []).map(splitMount).find(({ target }) => target === keyFolder);
    expect(mount).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(mount!.source);
  });

  it('documents the admin API key as a demo value, and the sample loader uses the same one', () => {
    expect(applianceEnv.ADMIN_API_KEY).toMatch(/demo/);
    expect(environmentOf(services['seed-sample']).OTA_API_KEY).toBe(applianceEnv.ADMIN_API_KEY);
    expect(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8')).toMatch(/DEMO VALUE/);
  });

  it('points PUBLIC_BASE_URL at the port nginx publishes, where devices come in', () => {
    const publicUrl = new URL(applianceEnv.PUBLIC_BASE_URL);
    const http = publishedPorts(nginx).find(({ container }) => container === Number(nginxEnv.NGINX_HTTP_PORT));
    expect(http).toBeDefined();
    expect(Number(publicUrl.port)).toBe(http!.host);
  });

  it("sends nginx's upstreams to the appliance's HTTP, MQTT and MQTT WebSocket ports", () => {
    expect(nginxEnv.OTA_HTTP_UPSTREAM).toBe(`appliance:${applianceEnv.PORT}`);
    expect(nginxEnv.OTA_MQTT_WS_UPSTREAM).toBe(`appliance:${applianceEnv.MQTT_WS_PORT}`);
    expect(nginxEnv.OTA_MQTT_UPSTREAM).toBe(`appliance:${applianceEnv.MQTT_PORT}`);
    expect(
      publishedPorts(nginx)
        .map(({ host, container }) => `${host}:${container}`)
        .sort(),
    ).toEqual([`1883:${nginxEnv.NGINX_MQTT_PORT}`, `8080:${nginxEnv.NGINX_HTTP_PORT}`, `8083:${nginxEnv.NGINX_MQTT_WS_PORT}`].sort());
    // The appliance itself publishes nothing: with two replicas, everything comes through nginx.
    expect(appliance.ports).toBeUndefined();
  });

  it('mounts the nginx templates of this repository and sets every placeholder they use', () => {
    const templates = (nginx.volumes ?? []).map(splitMount).find(({ target }) => target === '/etc/nginx/templates');
    expect(templates?.source).toBe('./deploy/nginx/templates');
    const files = readdirSync(nginxTemplatesDir);
    expect(files.sort()).toEqual(['default.conf.template', 'mqtt.stream-template']);
    for (const file of files) {
      const placeholders = [...readFileSync(join(nginxTemplatesDir, file), 'utf8').matchAll(/\$\{([A-Z0-9_]+)\}/g)].map(([, name]) => name);
      expect(placeholders.length).toBeGreaterThan(0);
      for (const name of placeholders) expect({ file, name, set: name in nginxEnv }).toEqual({ file, name, set: true });
    }
  });

  it('waits on health: every long-running service has a health check and dependants wait for it', () => {
    for (const [name, service] of Object.entries(services)) {
      if (name === 'seed-sample') continue;
      expect({ name, healthcheck: Array.isArray(service.healthcheck?.test) }).toEqual({ name, healthcheck: true });
      expect({ name, restart: service.restart }).toEqual({ name, restart: 'unless-stopped' });
    }
    for (const [name, service] of Object.entries(services)) {
      for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
        expect(services[dependency]).toBeDefined();
        expect({ name, dependency, condition }).toEqual({ name, dependency, condition: 'service_healthy' });
      }
    }
    expect(Object.keys(appliance.depends_on ?? {}).sort()).toEqual(['minio', 'postgres', 'redis']);
    expect(Object.keys(nginx.depends_on ?? {})).toEqual(['appliance']);
  });

  it('health-checks the appliance and the agents on their own ports', () => {
    expect(appliance.healthcheck!.test!.join(' ')).toContain(`http://127.0.0.1:${applianceEnv.PORT}/readyz`);
    for (const [name, agent] of peerAgents) {
      expect({ name, check: agent.healthcheck!.test!.join(' ').includes(`http://127.0.0.1:${environmentOf(agent).OTA_HTTP_PORT}/healthz`) }).toEqual({ name, check: true });
    }
  });

  it('loads the sample data once, through nginx, with the built seed tool', () => {
    const seed = services['seed-sample'];
    expect(seed.restart).toBe('no');
    expect(seed.command).toEqual(['node', 'dist/apps/server/src/tools/seed-sample.js']);
    expect(existsSync(join(repoRoot, 'apps', 'server', 'src', 'tools', 'seed-sample.ts'))).toBe(true);
    const env = environmentOf(seed);
    expect(env.OTA_URL).toBe(`http://nginx:${nginxEnv.NGINX_HTTP_PORT}`);
    expect(Number(env.SAMPLE_SIZE_BYTES)).toBeGreaterThan(0);
  });

  it('runs two peer agents of one site from the appliance image, with options the agent accepts', () => {
    expect(peerAgents).toHaveLength(2);
    const known = peerAgentVariables();
    const sites = new Set<string>();
    const caches = new Set<string>();
    for (const [name, agent] of peerAgents) {
      expect(agent.image).toBe(appliance.image);
      expect(agent.command).toEqual(['node', 'dist/apps/peer-agent/src/main.js']);
      const env = environmentOf(agent);
      for (const variable of Object.keys(env)) expect({ name, variable, known: known.has(variable) }).toEqual({ name, variable, known: true });
      const config = parseConfig(agent.command!.slice(2), env);
      if ('help' in config) throw new Error('unexpected help');
      expect(config.origin).toBe(`http://nginx:${nginxEnv.NGINX_HTTP_PORT}`);
      sites.add(config.site);
      caches.add((agent.volumes ?? []).map(splitMount).find(({ target }) => target === config.cacheDir)!.source);
      expect(publishedPorts(agent).map(({ container }) => container)).toEqual([config.httpPort]);
    }
    expect([...sites]).toEqual(['demo-site']);
    expect(caches.size).toBe(2);
  });

  it('runs the sample loader from the image the appliance service builds', () => {
    expect(services['seed-sample'].image).toBe(appliance.image);
    expect(existsSync(join(repoRoot, 'Dockerfile'))).toBe(true);
  });

  it('matches docs/deploy.md: the demo key and the ports it tells users to try', () => {
    const docs = readFileSync(join(repoRoot, 'docs', 'deploy.md'), 'utf8');
    expect(docs).toContain(`OTA_API_KEY=${applianceEnv.ADMIN_API_KEY}`);
    for (const { host } of [...publishedPorts(nginx), ...peerAgents.flatMap(([, agent]) => publishedPorts(agent))]) {
      expect({ host, documented: new RegExp(`\\| ${host}\\b|localhost:${host}\\b`).test(docs) }).toEqual({ host, documented: true });
    }
    expect(docs).toMatch(/^## Sizing$/m);
  });
});
