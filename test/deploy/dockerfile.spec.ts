import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describeVariables } from '../../apps/server/src/config/environment';
import { parseConfig } from '../../apps/peer-agent/src/config/agent-config';
import { envOfStage, loadCompose, loadDockerfile, readRepoFile, repoRoot } from './deploy-files';

const { stages } = loadDockerfile();
const runtime = stages[stages.length - 1];
const build = stages[0];
const instructions = (keyword: string) => runtime.instructions.filter((instruction) => instruction.keyword === keyword).map(({ args }) => args);
const defaultOf = (name: string) => describeVariables().find((variable) => variable.name === name)!.default!;
const agentDefaults = (() => {
  const config = parseConfig(['--origin', 'http://origin', '--site', 'a', '--cache', '/tmp/c'], {});
  if ('help' in config) throw new Error('unexpected help');
  return config;
})();

/** `.dockerignore` patterns (simple names, `**\/name`, `*.ext`) matched against a path in the build context. */
function ignored(path: string, patterns: string[]): boolean {
  const toRegex = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .split('**/')
        .map((part) => part.replace(/\*/g, '[^/]*'))
        .join('(?:.*/)?')}(?:/.*)?$`,
    );
  return patterns.some((pattern) => toRegex(pattern).test(path));
}

describe('Dockerfile', () => {
  it('builds on node:24-slim, the Node major package.json pins', () => {
    const engines = JSON.parse(readRepoFile('package.json')).engines.node as string;
    const major = /^>=(\d+)/.exec(engines)![1];
    expect(stages.map((stage) => stage.from)).toEqual([`node:${major}-slim`, `node:${major}-slim`]);
  });

  it('compiles in a build stage and ships only production dependencies and dist/', () => {
    expect(stages).toHaveLength(2);
    const buildRuns = build.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args);
    expect(buildRuns.some((run) => /^npm ci\b/.test(run))).toBe(true);
    expect(buildRuns).toContain('node scripts/build.mjs --force');
    const runtimeRuns = instructions('RUN');
    expect(runtimeRuns.some((run) => /npm ci\b.*--omit=dev/.test(run))).toBe(true);
    const copies = instructions('COPY');
    expect(copies).toContain(`--from=${build.name} /src/dist ./dist`);
    // Nothing else of the sources reaches the final image.
    expect(copies.filter((copy) => copy !== `--from=${build.name} /src/dist ./dist`)).toEqual(['package.json package-lock.json ./']);
  });

  it('runs as an unprivileged user, with DATA_DIR on a volume that user owns', () => {
    const user = instructions('USER');
    expect(user).toHaveLength(1);
    expect(user[0]).not.toMatch(/^(root|0)(:|$)/);
    const dataDir = envOfStage(runtime).DATA_DIR;
    expect(dataDir).toBeDefined();
    expect(instructions('VOLUME').join(' ')).toContain(dataDir);
    expect(instructions('RUN').some((run) => run.includes(`chown -R ${user[0]}:${user[0]} ${dataDir}`))).toBe(true);
  });

  it("runs the appliance by default and has the peer agent's entry point", () => {
    expect(JSON.parse(instructions('CMD')[0])).toEqual(['node', 'dist/apps/server/src/main.js']);
    expect(existsSync(join(repoRoot, 'apps', 'server', 'src', 'main.ts'))).toBe(true);
    expect(existsSync(join(repoRoot, 'apps', 'peer-agent', 'src', 'main.ts'))).toBe(true);
    const services = loadCompose().services;
    for (const [name, service] of Object.entries(services)) {
      if (service.image !== services.appliance.image || !service.command) continue;
      const entry = service.command[1].replace(/^dist\//, '').replace(/\.js$/, '.ts');
      expect({ name, entryExists: existsSync(join(repoRoot, entry)) }).toEqual({ name, entryExists: true });
    }
  });

  it("exposes the appliance's and the peer agent's default ports, and sets the appliance's", () => {
    const exposed = instructions('EXPOSE')
      .join(' ')
      .split(/\s+/)
      .map(Number)
      .sort((a, b) => a - b);
    const expected = [defaultOf('PORT'), defaultOf('MQTT_PORT'), defaultOf('MQTT_WS_PORT'), String(agentDefaults.httpPort), String(agentDefaults.p2pPort)].map(Number);
    expect(exposed).toEqual(expected.sort((a, b) => a - b));
    const env = envOfStage(runtime);
    expect([env.PORT, env.MQTT_PORT, env.MQTT_WS_PORT]).toEqual([defaultOf('PORT'), defaultOf('MQTT_PORT'), defaultOf('MQTT_WS_PORT')]);
  });

  it('health-checks /healthz on PORT with Node (slim images have no curl)', () => {
    const healthcheck = instructions('HEALTHCHECK')[0];
    const command = JSON.parse(healthcheck.slice(healthcheck.indexOf('CMD') + 3).trim()) as string[];
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command[2]).toContain('process.env.PORT');
    expect(command[2]).toContain('/healthz');
  });

  it('keeps the build context to what the build copies', () => {
    const patterns = readFileSync(join(repoRoot, '.dockerignore'), 'utf8')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const path of ['node_modules', 'apps/server/node_modules', 'dist', 'data', '.git', 'coverage', '.env']) {
      expect({ path, ignored: ignored(path, patterns) }).toEqual({ path, ignored: true });
    }
    const copied = build.instructions
      .filter((i) => i.keyword === 'COPY')
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1))
      .filter((source) => !source.startsWith('--'));
    expect(copied.length).toBeGreaterThan(0);
    for (const source of [...copied, 'apps/server/src/main.ts', 'apps/peer-agent/src/main.ts', 'libs/resolver/src/index.ts']) {
      expect({ source, exists: existsSync(join(repoRoot, source)), ignored: ignored(source, patterns) }).toEqual({ source, exists: true, ignored: false });
    }
  });
});
