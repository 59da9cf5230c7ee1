import { startApp } from './bootstrap';
import { AppConfig } from './config/app-config';
import { ConfigError } from './config/environment';
import { DataDirInUseError } from './database/data-dir-lock';

async function main(): Promise<void> {
  const config = AppConfig.fromEnvironment();
  const app = await startApp(config);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : config.port;
  process.stderr.write(`OTA appliance listening on http://${config.bindAddress}:${port} (public base URL ${config.publicBaseUrl})\n`);
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof DataDirInUseError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(error instanceof ConfigError ? 78 : 73);
  }
  process.stderr.write(`The appliance could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
