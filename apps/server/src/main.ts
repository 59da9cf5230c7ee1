import { startApp } from './bootstrap';
import { collectStartGarbage } from './common/start-garbage';
import { AppConfig } from './config/app-config';
import { ConfigError } from './config/environment';
import { DataDirInUseError } from './database/data-dir-lock';

let config: AppConfig | undefined;

/** Which setting chose a port that turned out to be taken (a local Mosquitto holds 1883 on many machines). */
function portInUse(error: unknown): string | undefined {
  const { code, port } = (error ?? {}) as { code?: string; port?: number };
  if (code !== 'EADDRINUSE' || !config) return undefined;
  const variable = port === config.mqttPort ? 'MQTT_PORT' : port === config.mqttWsPort ? 'MQTT_WS_PORT' : 'PORT';
  return `Port ${port} is already in use by another program: set ${variable} to a free port (e.g. ${variable}=${(port ?? 0) + 10000}).`;
}

async function main(): Promise<void> {
  config = AppConfig.fromEnvironment();
  const app = await startApp(config);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  process.stderr.write(`OTA appliance listening on http://${config.bindAddress}:${port} (public base URL ${config.publicBaseUrl})\n`);
  await collectStartGarbage();
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DataDirInUseError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 73);
  }
  const hint = portInUse(error);
  if (hint) {
    process.stderr.write(`${hint}\n`);
    process.exit(75);
  }
  process.stderr.write(`The appliance could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
