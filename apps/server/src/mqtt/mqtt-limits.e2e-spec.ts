import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startTestApp, type TestApp } from '@test/support/app';
import { connectDevice, endAll, nextMessage, publish, subscribe } from '@test/support/mqtt';
import { makeTempDir } from '@test/support/temp-dir';
import { upload, sendJson } from '@test/support/http';
import { MqttService } from './mqtt.service';

describe('MQTT over TLS, with a connection limit', () => {
  const certs = makeTempDir();
  let appliance: TestApp;

  beforeAll(async () => {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '1',
        '-subj',
        '/CN=localhost',
        '-addext',
        'subjectAltName=DNS:localhost,IP:127.0.0.1',
        '-keyout',
        join(certs.path, 'key.pem'),
        '-out',
        join(certs.path, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    appliance = await startTestApp({
      env: { MQTT_TLS_CERT: join(certs.path, 'cert.pem'), MQTT_TLS_KEY: join(certs.path, 'key.pem'), MQTT_MAX_CONNECTIONS: '2' },
    });
    await upload(appliance.url, 'os_armv8', '1.0.0', Buffer.from('os'));
    await sendJson('PUT', `${appliance.url}/api/v1/components/os_armv8/channels/prod`, { version: '1.0.0' });
  });

  afterAll(async () => {
    await appliance.dispose();
    certs.remove();
  });

  const tlsUrl = () => `mqtts://localhost:${appliance.app.get(MqttService).ports.tcp}`;
  const trust = () => ({ ca: readFileSync(join(certs.path, 'cert.pem')) });

  it('speaks TLS on MQTT_PORT with the configured certificate, and answers checks there', async () => {
    const device = await connectDevice(tlsUrl(), 'tls-dev', trust());
    try {
      await subscribe(device, 'ota/v1/devices/tls-dev/offer');
      const offer = nextMessage(device, 'ota/v1/devices/tls-dev/offer');
      await publish(device, 'ota/v1/devices/tls-dev/check', JSON.stringify({ requestId: 't', attributes: { cpuArch: 'armv8' }, installed: [] }));
      expect(await offer).toMatchObject({ requestId: 't', status: 200 });
    } finally {
      await endAll(device);
    }
    await expect(connectDevice(`mqtt://127.0.0.1:${appliance.app.get(MqttService).ports.tcp}`, 'plain-dev', { connectTimeout: 2000 })).rejects.toThrow();
  });

  it('refuses connections beyond MQTT_MAX_CONNECTIONS and keeps serving the ones it has', async () => {
    const first = await connectDevice(tlsUrl(), 'limit-1', trust());
    const second = await connectDevice(tlsUrl(), 'limit-2', trust());
    try {
      await expect(connectDevice(tlsUrl(), 'limit-3', { ...trust(), connectTimeout: 3000 })).rejects.toThrow();
      expect(first.connected && second.connected).toBe(true);
      expect(await subscribe(first, 'ota/v1/announce')).toBe(1);
    } finally {
      await endAll(first, second);
    }
    const metrics = await (await fetch(`${appliance.url}/metrics`)).text();
    expect(metrics).toMatch(/ota_mqtt_refused_total\{reason="max-connections"\} [1-9]/);
  });
});
