import type { Express } from 'express';
import { startTestApp, type TestApp } from '../../../test/support/app';

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

describe('the OpenAPI document at /docs', () => {
  let appliance: TestApp;

  beforeAll(async () => {
    appliance = await startTestApp();
  });

  afterAll(async () => appliance.dispose());

  it('describes every route the appliance serves, GET /package included', async () => {
    const response = await fetch(`${appliance.url}/docs/openapi.json`);
    expect(response.status).toBe(200);
    const document = (await response.json()) as { paths: Record<string, Record<string, unknown>> };
    const documented = new Set(Object.entries(document.paths).flatMap(([path, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`)));
    // Swagger UI's own pages and Nest's catch-all 404 handler are not API routes.
    const routes = registeredRoutes(appliance.app.getHttpAdapter().getInstance()).filter((route) => !route.includes(' /docs') && !route.endsWith(' {/*splat}'));
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.filter((route) => !documented.has(route))).toEqual([]);
    expect(documented.has('GET /package')).toBe(true);
    expect((await fetch(`${appliance.url}/docs`)).status).toBe(200);
  });
});
