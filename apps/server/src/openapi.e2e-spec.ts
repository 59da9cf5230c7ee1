import type { Express } from 'express';
import { startTestApp, type TestApp } from '@test/support/app';

interface Parameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
}

interface Operation {
  parameters?: Parameter[];
  security?: Record<string, string[]>[];
  responses?: Record<string, unknown>;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, Operation>>;
  components?: { securitySchemes?: Record<string, unknown> };
}

/** Every route Express knows, as "METHOD /path/{param}", read from the running app's router. */
function registeredRoutes(app: Express): string[] {
  const stack = (app as unknown as { router: { stack: { route?: { path: string; methods: Record<string, boolean> } }[] } }).router.stack;
  return stack
    .filter((layer) => layer.route)
    .flatMap((layer) =>
      Object.keys(layer.route!.methods)
        .filter((method) => method !== '_all')
        .map((method) => `${method.toUpperCase()} ${layer.route!.path.replace(/:([A-Za-z0-9_]+)/g, '{$1}')}`),
    );
}

function operationsOf(document: OpenApiDocument): { route: string; method: string; path: string; operation: Operation }[] {
  return Object.entries(document.paths).flatMap(([path, operations]) =>
    Object.entries(operations).map(([method, operation]) => ({ route: `${method.toUpperCase()} ${path}`, method: method.toUpperCase(), path, operation })),
  );
}

/** Security that a client must satisfy: declared, and without the empty alternative that makes it optional. */
const requiresCredentials = (operation: Operation) => (operation.security ?? []).length > 0 && !operation.security!.some((requirement) => Object.keys(requirement).length === 0);

describe('the OpenAPI document at /docs', () => {
  let appliance: TestApp;
  let document: OpenApiDocument;

  beforeAll(async () => {
    appliance = await startTestApp();
    const response = await fetch(`${appliance.url}/docs/openapi.json`);
    expect(response.status).toBe(200);
    document = (await response.json()) as OpenApiDocument;
  });

  afterAll(async () => appliance.dispose());

  it('describes every route the appliance serves, and no other, GET /package included', async () => {
    const documented = new Set(operationsOf(document).map(({ route }) => route));
    // Swagger UI's own pages and Nest's catch-all 404 handler are not API routes.
    const routes = registeredRoutes(appliance.app.getHttpAdapter().getInstance()).filter((route) => !route.includes(' /docs') && !route.endsWith(' {/*splat}'));
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.filter((route) => !documented.has(route))).toEqual([]);
    // GET /package is answered ahead of the router (PackageHttpHandler), so it is not among the routes.
    expect([...documented].filter((route) => !routes.includes(route))).toEqual(['GET /package']);
    expect((await fetch(`${appliance.url}/package`)).status).toBe(400);
    expect((await fetch(`${appliance.url}/docs`)).status).toBe(200);
  });

  it('declares every {parameter} of a path, required, and no path parameter the path lacks', () => {
    const mistakes = operationsOf(document).flatMap(({ route, path, operation }) => {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
      const declared = (operation.parameters ?? []).filter((parameter) => parameter.in === 'path');
      return [
        ...inPath.filter((name) => declared.filter((parameter) => parameter.name === name).length !== 1).map((name) => `${route}: {${name}} is not declared once`),
        ...declared.filter((parameter) => !inPath.includes(parameter.name)).map((parameter) => `${route}: declares path parameter ${parameter.name} it does not have`),
        ...declared.filter((parameter) => parameter.required !== true).map((parameter) => `${route}: path parameter ${parameter.name} is not required`),
      ];
    });
    expect(mistakes).toEqual([]);
  });

  it('declares no parameter twice and leaves credentials to security schemes, not header parameters', () => {
    const mistakes = operationsOf(document).flatMap(({ route, operation }) => {
      const parameters = operation.parameters ?? [];
      // Header names are case-insensitive; OpenAPI ignores header parameters named Authorization, Accept or Content-Type.
      const keys = parameters.map((parameter) => `${parameter.in}:${parameter.in === 'header' ? parameter.name.toLowerCase() : parameter.name}`);
      return [
        ...keys.filter((key, index) => keys.indexOf(key) !== index).map((key) => `${route}: ${key} is declared twice`),
        ...parameters
          .filter((parameter) => parameter.in === 'header' && ['authorization', 'accept', 'content-type'].includes(parameter.name.toLowerCase()))
          .map((parameter) => `${route}: header parameter ${parameter.name}${parameter.required ? ' (required)' : ''}`),
      ];
    });
    expect(mistakes).toEqual([]);
  });

  it('names only security schemes it defines, and declares security wherever it documents a 401', () => {
    const schemes = Object.keys(document.components?.securitySchemes ?? {});
    const mistakes = operationsOf(document).flatMap(({ route, operation }) => [
      ...(operation.security ?? [])
        .flatMap((requirement) => Object.keys(requirement))
        .filter((scheme) => !schemes.includes(scheme))
        .map((scheme) => `${route}: unknown scheme ${scheme}`),
      ...(operation.responses?.['401'] && (operation.security ?? []).length === 0 ? [`${route}: documents a 401 but no security`] : []),
    ]);
    expect(mistakes).toEqual([]);
  });

  it('requires credentials exactly where the appliance refuses a request without them', async () => {
    const mistakes: string[] = [];
    for (const { route, method, path, operation } of operationsOf(document)) {
      // Any value reaches the guard: guards run before parameters are validated.
      const url = `${appliance.url}${path.replace(/\{[^}]+\}/g, 'x')}`;
      const response = await fetch(url, { method, headers: method === 'GET' ? {} : { 'content-type': 'application/json' }, body: method === 'GET' ? undefined : '{}' });
      await response.arrayBuffer();
      const refused = response.status === 401;
      // With DEVICE_AUTH=none (the default here) optional security lets the request through.
      if (refused !== requiresCredentials(operation))
        mistakes.push(`${route}: answers ${response.status} without credentials, security ${JSON.stringify(operation.security ?? null)}`);
    }
    expect(mistakes).toEqual([]);
  });
});
