import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

/** A child process that printed a JSON ready line on stdout. */
export interface ReadyProcess<R> {
  proc: ChildProcess;
  ready: R;
  /** Resolves with the exit code (or signal) once the process is gone. */
  exited: Promise<number | string | null>;
}

const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});

/**
 * Spawns `process.execPath` (the Node 24 that runs jest) with `args`, writes its stderr to
 * `logFile`, and resolves with the first stdout line parsed as JSON once it has `ready: true`.
 */
export function spawnReady<R>(args: string[], options: { env?: NodeJS.ProcessEnv; logFile: string; timeoutMs?: number; cwd?: string }): Promise<ReadyProcess<R>> {
  const proc = spawn(process.execPath, args, {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(proc);
  const log: WriteStream = createWriteStream(options.logFile, { flags: 'a' });
  proc.stderr!.pipe(log);
  const exited = new Promise<number | string | null>((resolve) => {
    proc.once('exit', (code, signal) => {
      children.delete(proc);
      resolve(code ?? signal);
    });
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${args.join(' ')}: no ready line within ${options.timeoutMs ?? 30_000} ms (see ${options.logFile})`));
    }, options.timeoutMs ?? 30_000);
    const lines = createInterface({ input: proc.stdout! });
    lines.once('line', (line) => {
      clearTimeout(timer);
      try {
        const ready = JSON.parse(line) as R & { ready?: boolean };
        if (ready.ready !== true) throw new Error('not a ready line');
        resolve({ proc, ready, exited });
      } catch {
        reject(new Error(`unexpected first stdout line: ${line}`));
      }
      // Anything else on stdout would break scripts that wait for the ready line: make it visible.
      lines.on('line', (extra) => log.write(`UNEXPECTED STDOUT: ${extra}\n`));
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited (${String(code)}) before it was ready (see ${options.logFile})`));
    });
  });
}
