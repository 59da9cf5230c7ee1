import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { join } from 'node:path';

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

/** Waits until `predicate(output)` holds, the process exits, or the timeout passes. */
export async function waitForOutput(running: RunningProcess, predicate: (output: string) => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate(running.output())) {
    if (running.child.exitCode !== null) throw new Error(`process exited with ${running.child.exitCode}:\n${running.output()}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting; output so far:\n${running.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

export async function startBuiltAppliance(env: Record<string, string>): Promise<RunningProcess & { url: string }> {
  const port = env.PORT ?? String(await freePort());
  const mqttPorts = { MQTT_PORT: String(await freePort()), MQTT_WS_PORT: String(await freePort()) };
  const running = runNode(builtServer, [], { LOG_LEVEL: 'warn', BIND_ADDRESS: '127.0.0.1', ...mqttPorts, ...env, PORT: port });
  await waitForOutput(running, (output) => output.includes('OTA appliance listening'));
  return { ...running, url: `http://127.0.0.1:${port}` };
}
