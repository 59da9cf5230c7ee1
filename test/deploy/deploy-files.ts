import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, parseAllDocuments } from 'yaml';

/** The deployment files, read as a reviewer reads them: no docker, compose or helm binary needed. */
export const repoRoot = join(__dirname, '..', '..');
export const chartDir = join(repoRoot, 'deploy', 'helm', 'ota-appliance');
export const nginxTemplatesDir = join(repoRoot, 'deploy', 'nginx', 'templates');

export const readRepoFile = (...path: string[]): string => readFileSync(join(repoRoot, ...path), 'utf8');

// ---- docker-compose.yml ----------------------------------------------------------------------

export interface ComposeService {
  image?: string;
  build?: string | { context: string };
  command?: string[];
  environment?: Record<string, string | number | boolean | null>;
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
  depends_on?: Record<string, { condition: string }>;
  deploy?: { replicas?: number };
  restart?: string;
}

export interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

/** Compose's `${NAME:-default}` / `${NAME}` interpolation, with nothing set in the shell. */
export function interpolate(value: string): string {
  return value.replace(/\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}/g, (match, _name: string | undefined, fallback: string | undefined) =>
    match === '$$' ? '$' : (fallback ?? ''),
  );
}

export function loadCompose(): ComposeFile {
  // YAML merge keys (`<<: *anchor`) are part of how compose files share settings.
  return parse(readRepoFile('docker-compose.yml'), { merge: true }) as ComposeFile;
}

/** A service's environment as the container sees it (strings, interpolated). */
export function environmentOf(service: ComposeService): Record<string, string> {
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([name, value]) => [name, interpolate(String(value ?? ''))]));
}

// ---- Dockerfile ------------------------------------------------------------------------------

export interface DockerfileStage {
  from: string;
  name?: string;
  instructions: { keyword: string; args: string }[];
}

/** Splits the Dockerfile into stages of instructions (continuation lines joined, comments dropped). */
export function loadDockerfile(): { args: Record<string, string>; stages: DockerfileStage[] } {
  const lines = readRepoFile('Dockerfile')
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: DockerfileStage[] = [];
  for (const line of lines) {
    const [, keyword, rest] = /^(\S+)\s*(.*)$/.exec(line)!;
    const upper = keyword.toUpperCase();
    if (upper === 'FROM') {
      const [, image, name] = /^(\S+)(?:\s+AS\s+(\S+))?/i.exec(rest)!;
      stages.push({ from: image.replace(/\$\{(\w+)\}/g, (_m, arg: string) => args[arg] ?? ''), name, instructions: [] });
    } else if (upper === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args[name] = value;
    } else if (stages.length > 0) {
      stages[stages.length - 1].instructions.push({ keyword: upper, args: rest });
    }
  }
  return { args, stages };
}

/** `ENV A=1 B=2` instructions of a stage, merged. */
export function envOfStage(stage: DockerfileStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { keyword, args } of stage.instructions) {
    if (keyword !== 'ENV') continue;
    for (const [, name, value] of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|\S+)/g)) env[name] = value.replace(/^"|"$/g, '');
  }
  return env;
}

// ---- Helm chart ------------------------------------------------------------------------------

export type Values = Record<string, any>;

export const loadChartYaml = (): Values => parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as Values;
export const loadValues = (): Values => parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;
export const loadValuesSchema = (): Values => JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8')) as Values;

/** Every file under templates/, by name. */
export function loadTemplates(): Map<string, string> {
  const dir = join(chartDir, 'templates');
  return new Map(readdirSync(dir).map((name) => [name, readFileSync(join(dir, name), 'utf8')]));
}

/** `.Values.a.b.c` paths a template reads (also `$.Values…`), as ['a', 'b', 'c']. */
export function valuesPathsIn(template: string): string[][] {
  const paths = new Map<string, string[]>();
  for (const [, dotted] of template.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
    paths.set(dotted, dotted.slice(1).split('.'));
  }
  return [...paths.values()];
}

/**
 * A template with its actions neutralised, so the static YAML around them can be parsed: lines
 * that hold only actions (control flow, `toYaml | nindent`) go, inline actions become a scalar.
 */
export function neutraliseTemplate(template: string): string {
  return template
    .replace(/\{\{-?\s*\/\*[\s\S]*?\*\/\s*-?\}\}/g, '')
    .split('\n')
    .filter((line) => line.replace(/\{\{[\s\S]*?\}\}/g, '').trim() !== '' || line.trim() === '')
    .map((line) => line.replace(/\{\{[\s\S]*?\}\}/g, 'TEMPLATED'))
    .join('\n');
}

/** Parses a neutralised template; if/else branches may repeat a key, which is fine here. */
export function parseNeutralised(template: string): { errors: string[]; documents: Values[] } {
  const documents = parseAllDocuments(neutraliseTemplate(template), { uniqueKeys: false });
  const list = Array.isArray(documents) ? documents : [documents];
  return {
    errors: list.flatMap((document) => document.errors.map((error) => error.message)),
    documents: list.map((document) => document.toJS() as Values).filter((document) => document !== null),
  };
}

/** Follows `path` through nested objects; undefined when a step is missing. */
export function valueAt(root: Values, path: string[]): unknown {
  let node: unknown = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || !(key in (node as Values))) return undefined;
    node = (node as Values)[key];
  }
  return node;
}

/** Follows `path` through a JSON schema's `properties`; undefined when the schema does not describe it. */
export function schemaAt(schema: Values, path: string[]): Values | undefined {
  let node: Values | undefined = schema;
  for (const key of path) {
    node = node?.properties?.[key] as Values | undefined;
    if (!node) return undefined;
  }
  return node;
}

// ---- peer agent ------------------------------------------------------------------------------

/** Environment variables the peer agent reads (its config module is the only place that reads them). */
export function peerAgentVariables(): Set<string> {
  const source = readRepoFile('apps', 'peer-agent', 'src', 'config', 'agent-config.ts');
  return new Set([...source.matchAll(/(?:'|env\.)(OTA_[A-Z0-9_]+)/g)].map(([, name]) => name));
}
