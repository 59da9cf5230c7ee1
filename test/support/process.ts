import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { until } from './wait';

export const repoRoot = join(__dirname, '..', '..');
export const builtServer = join(repoRoot, 'dist', 'apps', 'server', 'src', 'main.js');

export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

export interface RunningProcess {
  child: ChildProcess;
  output(): string;
  /** Resolves with the exit code once the process has ended. */
  exited: Promise<number | null>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Runs a built entry point under this Node (24, as npm runs the tests), collecting stdout and stderr. */
export function runNode(script: string, args: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    child,
    output: () => output,
    exited,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Waits until `predicate(output)` holds; throws when the process exits first or the timeout passes. */
export async function waitForOutput(running: RunningProcess, predicate: (output: string) => boolean, timeoutMs = 60_000): Promise<void> {
  const exited = () => running.child.exitCode !== null;
  await until(async () => predicate(running.output()) || exited(), Boolean, timeoutMs);
  if (predicate(running.output())) return;
  if (exited()) throw new Error(`process exited with ${running.child.exitCode}:\n${running.output()}`);
  throw new Error(`timed out waiting; output so far:\n${running.output()}`);
}

export async function startBuiltAppliance(env: Record<string, string>): Promise<RunningProcess & { url: string }> {
  const port = env.PORT ?? String(await freePort());
  const mqttPorts = { MQTT_PORT: String(await freePort()), MQTT_WS_PORT: String(await freePort()) };
  const running = runNode(builtServer, [], { LOG_LEVEL: 'warn', BIND_ADDRESS: '127.0.0.1', ...mqttPorts, ...env, PORT: port });
  await waitForOutput(running, (output) => output.includes('OTA appliance listening'));
  return { ...running, url: `http://127.0.0.1:${port}` };
}
