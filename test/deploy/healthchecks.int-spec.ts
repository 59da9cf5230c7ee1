import { spawn } from 'node:child_process';
import { startTestApp, type TestApp } from '../support/app';
import { freePort } from '../support/process';
import { environmentOf, loadCompose, loadDockerfile } from './deploy-files';

/** Runs a container health check command (`node -e …`) with this Node; answers its exit code. */
function runCheck(command: string[], env: Record<string, string>): Promise<number | null> {
  expect(command[0]).toBe('node');
  const child = spawn(process.execPath, command.slice(1), { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

const dockerfileCheck = (() => {
  const runtime = loadDockerfile().stages.at(-1)!;
  const args = runtime.instructions.find((instruction) => instruction.keyword === 'HEALTHCHECK')!.args;
  return JSON.parse(args.slice(args.indexOf('CMD') + 3).trim()) as string[];
})();

describe('the health checks of the image and of the compose stack, run against a real appliance', () => {
  let appliance: TestApp;
  let port: string;

  beforeAll(async () => {
    appliance = await startTestApp();
    port = new URL(appliance.url).port;
  });

  afterAll(async () => appliance?.dispose());

  it("passes the image's HEALTHCHECK for a running appliance on its PORT", async () => {
    expect(await runCheck(dockerfileCheck, { PORT: port })).toBe(0);
  });

  it("fails the image's HEALTHCHECK when nothing answers on PORT", async () => {
    expect(await runCheck(dockerfileCheck, { PORT: String(await freePort()) })).toBe(1);
  });

  it("passes compose's readiness check for a ready appliance, and fails it when nothing answers", async () => {
    const compose = loadCompose().services.appliance;
    const configuredPort = environmentOf(compose).PORT;
    const command = compose.healthcheck!.test!.slice(1);
    const onPort = (target: string) => command.map((part) => part.replace(`127.0.0.1:${configuredPort}/`, `127.0.0.1:${target}/`));
    expect(onPort(port).join(' ')).toContain(`127.0.0.1:${port}/readyz`);
    expect(await runCheck(onPort(port), {})).toBe(0);
    expect(await runCheck(onPort(String(await freePort())), {})).toBe(1);
  });
});
