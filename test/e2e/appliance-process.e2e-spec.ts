import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { adminHeaders } from '../support/app';
import { getJson, upload } from '../support/http';
import { builtServer, runNode, startBuiltAppliance, waitForOutput } from '../support/process';
import { makeTempDir } from '../support/temp-dir';

describe('the appliance as a process, on embedded defaults', () => {
  const dataDir = makeTempDir();
  afterAll(() => dataDir.remove());

  it('generates an admin key on first start, keeps uploads across a restart, and refuses a second instance on its DATA_DIR', async () => {
    const first = await startBuiltAppliance({ DATA_DIR: dataDir.path });
    let key: string;
    try {
      key = readFileSync(join(dataDir.path, 'initial-admin-key'), 'utf8').trim();
      // The log line may reach the pipe after the listening line (pino writes asynchronously).
      await waitForOutput(first, (output) => output.includes(key));
      expect(first.output()).toContain(key);
      const stored = await upload(first.url, 'os_armv8', '1.1.0', Buffer.from('firmware bytes'), { key });
      expect(stored.status).toBe(201);

      const second = runNode(builtServer, [], { DATA_DIR: dataDir.path, PORT: '0', MQTT_PORT: '0', MQTT_WS_PORT: '0', LOG_LEVEL: 'warn' });
      expect(await second.exited).toBe(73);
      expect(second.output()).toContain(`DATA_DIR ${dataDir.path} is in use by another running appliance`);

      // The first instance was not disturbed by the attempt.
      expect((await getJson(`${first.url}/api/v1/components`, adminHeaders(key))).status).toBe(200);
    } finally {
      expect(await first.stop()).toBe(0);
    }

    const restarted = await startBuiltAppliance({ DATA_DIR: dataDir.path });
    try {
      const versions = await getJson(`${restarted.url}/api/v1/components/os_armv8/versions`, adminHeaders(key));
      expect(versions.body).toEqual([expect.objectContaining({ version: '1.1.0', size: 14 })]);
      const download = await fetch(`${restarted.url}/artifacts/${versions.body[0].sha256}`);
      expect(await download.text()).toBe('firmware bytes');
      expect(restarted.output()).not.toContain(key);
    } finally {
      await restarted.stop();
    }
  });

  it('refuses to start on a bad variable and names it', async () => {
    const running = runNode(builtServer, [], { DATA_DIR: dataDir.path, PORT: 'eighty' });
    expect(await running.exited).toBe(78);
    expect(running.output()).toMatch(/Invalid configuration:[\s\S]*PORT: /);
  });

  it('names the setting whose port is taken, rather than failing with a stack trace', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await once(blocker, 'listening');
    const taken = (blocker.address() as AddressInfo).port;
    try {
      const running = runNode(builtServer, [], { DATA_DIR: dataDir.path, PORT: '0', MQTT_PORT: String(taken), MQTT_WS_PORT: '0', BIND_ADDRESS: '127.0.0.1' });
      expect(await running.exited).toBe(75);
      expect(running.output()).toContain(`Port ${taken} is already in use by another program: set MQTT_PORT to a free port`);
    } finally {
      blocker.close();
    }
  });

  it('takes over DATA_DIR from a process that died without cleaning up', async () => {
    const crashed = await startBuiltAppliance({ DATA_DIR: dataDir.path });
    await crashed.stop('SIGKILL');
    const next = await startBuiltAppliance({ DATA_DIR: dataDir.path });
    await waitForOutput(next, (output) => output.includes('listening'));
    expect(await next.stop()).toBe(0);
  });
});
