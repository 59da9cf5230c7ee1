import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '../support/temp-dir';
import { until } from '../support/wait';
import { nginxTemplatesDir } from './deploy-files';

/** Debian's nginx (CI installs the package); NGINX_BIN points elsewhere. */
function nginxBinary(): string {
  const candidates = [process.env.NGINX_BIN, '/usr/sbin/nginx', ...(process.env.PATH ?? '').split(':').map((dir) => join(dir, 'nginx'))];
  const found = candidates.find((path): path is string => !!path && existsSync(path));
  if (!found) throw new Error('nginx is not installed (apt-get install nginx, or set NGINX_BIN)');
  return found;
}

/**
 * Fills a template's `${NAME}` placeholders the way the official nginx image's envsubst does, and
 * refuses to leave one unfilled (the image would leave it in place and nginx would fail on it).
 */
export function renderTemplate(file: string, variables: Record<string, string>): string {
  const rendered = readFileSync(join(nginxTemplatesDir, file), 'utf8').replace(/\$\{([A-Z0-9_]+)\}/g, (match, name: string) => variables[name] ?? match);
  const left = [...rendered.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map(([, name]) => name);
  if (left.length > 0) throw new Error(`${file}: no value for ${[...new Set(left)].join(', ')}`);
  return rendered;
}

export interface NginxCache {
  url: string;
  wsPortUrl: string;
  accessLog(): string;
  stop(): Promise<void>;
}

/**
 * Runs Debian's nginx as a child process with deploy/nginx/templates/default.conf.template, rendered
 * for the given upstreams and ports, its cache in a fresh folder.
 */
export async function startNginxCache(options: { httpPort: number; mqttWsPort: number; httpUpstream: string; mqttWsUpstream: string }): Promise<NginxCache> {
  const prefix = makeTempDir('ota-nginx-');
  // Workers drop to `nobody` when nginx starts as root: they must reach the cache and temp folders.
  chmodSync(prefix.path, 0o755);
  for (const dir of ['conf', 'logs', 'tmp', 'cache']) {
    mkdirSync(join(prefix.path, dir), { recursive: true });
    chmodSync(join(prefix.path, dir), 0o777);
  }
  const accessLog = join(prefix.path, 'logs', 'access.log');
  writeFileSync(
    join(prefix.path, 'conf', 'ota.conf'),
    renderTemplate('default.conf.template', {
      OTA_HTTP_UPSTREAM: options.httpUpstream,
      OTA_MQTT_WS_UPSTREAM: options.mqttWsUpstream,
      NGINX_HTTP_PORT: `127.0.0.1:${options.httpPort}`,
      NGINX_MQTT_WS_PORT: `127.0.0.1:${options.mqttWsPort}`,
      NGINX_CACHE_DIR: join(prefix.path, 'cache'),
      NGINX_PACKAGE_CACHE_MAX_SIZE: '256m',
      NGINX_ARTIFACT_CACHE_MAX_SIZE: '1g',
      NGINX_ACCESS_LOG: accessLog,
    }),
  );
  // The main configuration the official image provides (worker and event settings, an `http` block
  // including conf.d), with every path under the prefix.
  const tmp = join(prefix.path, 'tmp');
  const config = join(prefix.path, 'conf', 'nginx.conf');
  writeFileSync(
    config,
    [
      'daemon off;',
      'worker_processes 2;',
      `pid ${join(prefix.path, 'nginx.pid')};`,
      `error_log ${join(prefix.path, 'logs', 'error.log')} warn;`,
      'events { worker_connections 2048; }',
      'http {',
      `  client_body_temp_path ${tmp}/body;`,
      `  proxy_temp_path ${tmp}/proxy;`,
      `  fastcgi_temp_path ${tmp}/fastcgi;`,
      `  uwsgi_temp_path ${tmp}/uwsgi;`,
      `  scgi_temp_path ${tmp}/scgi;`,
      '  sendfile on;',
      `  include ${join(prefix.path, 'conf', 'ota.conf')};`,
      '}',
      '',
    ].join('\n'),
  );

  const binary = nginxBinary();
  const check = spawnSync(binary, ['-t', '-p', prefix.path, '-c', config], { encoding: 'utf8' });
  if (check.status !== 0) {
    prefix.remove();
    throw new Error(`nginx rejected the configuration:\n${check.stderr}`);
  }
  const child = spawn(binary, ['-p', prefix.path, '-c', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));

  const url = `http://127.0.0.1:${options.httpPort}`;
  const answers = () =>
    fetch(`${url}/nginx-health`).then(
      (response) => response.ok,
      () => false,
    );
  const up = await until(async () => child.exitCode !== null || (await answers()), Boolean, 15_000, 50);
  if (child.exitCode !== null) throw new Error(`nginx exited (${child.exitCode}): ${stderr}\n${readLog(join(prefix.path, 'logs', 'error.log'))}`);
  if (!up) throw new Error(`nginx did not answer on ${url}: ${stderr}`);

  return {
    url,
    wsPortUrl: `ws://127.0.0.1:${options.mqttWsPort}`,
    accessLog: () => readLog(accessLog),
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      prefix.remove();
    },
  };
}

function readLog(path: string): string {
  return existsSync(path) ? readFileSync(path, 'utf8') : '';
}
