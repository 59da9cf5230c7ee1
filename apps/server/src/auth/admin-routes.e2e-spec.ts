import { RequestMethod } from '@nestjs/common';
import { METHOD_METADATA, PATH_METADATA } from '@nestjs/common/constants';
import { ModulesContainer } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import { startTestApp, type TestApp } from '@test/support/app';
import { PUBLIC_ROUTE } from './admin-auth.guard';

/** The routes that need no admin API key, each with the name of its callers. Adding one is a decision: make it here. */
const PUBLIC_ROUTES = {
  'GET /artifacts/:sha256': 'device download',
  'GET /manifests/:sha256': 'device manifest',
  'GET /keys': 'manifest signing keys',
  'POST /devices/:id/status': 'device status report',
  'POST /peers/register': 'peer agent registration',
  'GET /healthz': 'liveness probe',
  'GET /readyz': 'readiness probe',
  'GET /metrics': 'metrics scrape',
};

/** Swagger UI and the OpenAPI document (JSON and YAML): served by Express beside the framework's router, open to all. */
const DOCS = /^\/docs([-/]|$)/;

interface ExpressLayer {
  route?: { path: string; methods: Record<string, boolean> };
}

/**
 * Every route Express serves, as "GET /path/:param" (HEAD is answered by the GET route). Wildcard
 * paths are left out: they are the framework's middleware (the request logger), mounted for every
 * method on every path, which answer nothing themselves.
 */
function expressRoutes(app: NestExpressApplication): string[] {
  const stack = (app.getHttpAdapter().getInstance() as { router: { stack: ExpressLayer[] } }).router.stack;
  return stack.flatMap(({ route }) =>
    route && !route.path.includes('*')
      ? Object.keys(route.methods)
          .filter((method) => method !== '_all')
          .map((method) => `${method.toUpperCase()} ${route.path}`)
      : [],
  );
}

/** Every controller route of the framework, with the name it opted out of the API key under (undefined when it did not). */
function frameworkRoutes(app: NestExpressApplication): Map<string, string | undefined> {
  const routes = new Map<string, string | undefined>();
  const join = (...parts: (string | undefined)[]) => `/${parts.filter((part) => part && part !== '/').join('/')}`;
  for (const module of app.get(ModulesContainer).values()) {
    for (const wrapper of module.controllers.values()) {
      const controller = wrapper.metatype as { prototype: Record<string, unknown> } & object;
      for (const name of Object.getOwnPropertyNames(controller.prototype)) {
        const handler = controller.prototype[name];
        if (name === 'constructor' || typeof handler !== 'function') continue;
        const path = Reflect.getMetadata(PATH_METADATA, handler) as string | undefined;
        if (path === undefined) continue;
        const method = RequestMethod[Reflect.getMetadata(METHOD_METADATA, handler) as RequestMethod];
        const publicName = (Reflect.getMetadata(PUBLIC_ROUTE, handler) ?? Reflect.getMetadata(PUBLIC_ROUTE, controller)) as string | undefined;
        routes.set(`${method} ${join(Reflect.getMetadata(PATH_METADATA, controller) as string, path)}`, publicName);
      }
    }
  }
  return routes;
}

/** Sends `route` ("POST /a/:id") with a made-up value for each parameter and no Authorization header. */
async function sendWithoutKey(baseUrl: string, route: string): Promise<{ status: number; body: { error?: string; message?: unknown } }> {
  const [method, path] = route.split(' ');
  const response = await fetch(`${baseUrl}${path.replace(/:\w+/g, 'sample')}`, { method });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : {} };
}

describe('admin API guard', () => {
  let appliance: TestApp;
  let served: string[];

  beforeAll(async () => {
    appliance = await startTestApp();
    served = expressRoutes(appliance.app);
  });

  afterAll(async () => appliance.dispose());

  it('answers 401 without a key on every route Express serves under /api/v1', async () => {
    const adminRoutes = served.filter((route) => route.split(' ')[1].startsWith('/api/v1/'));
    expect(adminRoutes.length).toBeGreaterThanOrEqual(20);
    const answers = await Promise.all(adminRoutes.map(async (route) => [route, await sendWithoutKey(appliance.url, route)] as const));
    for (const [route, answer] of answers) {
      expect({ route, status: answer.status, error: answer.body.error, message: answer.body.message }).toEqual({
        route,
        status: 401,
        error: 'Unauthorized',
        message: expect.stringContaining('missing API key'),
      });
    }
  });

  it('opens exactly the named public routes, and nothing else outside /api/v1 but the docs', () => {
    const routes = frameworkRoutes(appliance.app);
    const named = Object.fromEntries([...routes].filter(([, name]) => name !== undefined));
    expect(named).toEqual(PUBLIC_ROUTES);
    // What Express serves is what the framework declared, and Swagger's pages.
    expect(served.filter((route) => !DOCS.test(route.split(' ')[1])).sort()).toEqual([...routes.keys()].sort());
  });

  it('lets the public routes answer without a key', async () => {
    for (const route of Object.keys(PUBLIC_ROUTES)) {
      const answer = await sendWithoutKey(appliance.url, route);
      expect({ route, status: answer.status }).not.toEqual({ route, status: 401 });
      expect(JSON.stringify(answer.body.message ?? '')).not.toContain('API key');
    }
  });
});
