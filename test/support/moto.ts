import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { freePort } from './process';
import { until } from './wait';

export interface MotoS3 {
  endpoint: string;
  accessKey: string;
  secretKey: string;
  stop(): Promise<void>;
}

/**
 * A real S3 HTTP server with multipart uploads (listing and aborting them), which s3rver lacks:
 * moto's standalone server (`moto_server`, from the Python package moto[server]). Every upload it
 * lists reports the same fixed start time, in 2010.
 */
export async function startMotoS3(): Promise<MotoS3> {
  const port = await freePort();
  const child = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let output = '';
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  let spawnError: Error | undefined;
  child.once('error', (error) => (spawnError = error));
  const endpoint = `http://127.0.0.1:${port}`;
  const answered = await until(
    () =>
      fetch(endpoint).then(
        (response) => response.ok,
        () => false,
      ),
    (ok) => ok || child.exitCode !== null || spawnError !== undefined,
    30_000,
  );
  if (spawnError) throw new Error(`moto_server could not start (the tests of S3 multipart uploads need the Python package moto[server]): ${spawnError.message}`);
  if (!answered) {
    child.kill();
    throw new Error(`moto_server did not answer on ${endpoint}:\n${output}`);
  }
  return {
    endpoint,
    accessKey: 'moto-test',
    secretKey: 'moto-test',
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill();
      await exited;
    },
  };
}
