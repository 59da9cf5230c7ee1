import { ConfigError, parseConfig } from './config/agent-config';
import { startAgent } from './agent';
import { createLogger } from './logging/logger';

/**
 * `peer-agent --origin … --site … --cache …`: stdout carries exactly one line, the ready line
 * (`{"ready":true,"httpUrl","peerId","addrs"}`), so scripts can wait for it; logs go to stderr.
 */
async function main(): Promise<void> {
  let parsed;
  try {
    parsed = parseConfig(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`peer-agent: ${error.message}\nRun with --help to see the options.\n`);
      process.exit(2);
    }
    throw error;
  }
  if ('help' in parsed) {
    process.stdout.write(parsed.help);
    return;
  }
  const config = parsed;
  const log = createLogger(config.logLevel);
  let agent;
  try {
    agent = await startAgent(config, log);
  } catch (error) {
    log.fatal({ err: error }, 'peer agent failed to start');
    log.flush();
    process.stderr.write(`peer-agent: failed to start: ${(error as Error).message}\n`);
    process.exit(1);
  }
  process.stdout.write(JSON.stringify({ ready: true, httpUrl: agent.httpUrl, peerId: agent.peerId ?? null, addrs: agent.addrs }) + '\n');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const force = setTimeout(() => process.exit(0), 5_000);
    force.unref();
    agent
      .stop()
      .catch((error: unknown) => log.warn({ err: error }, 'error while stopping'))
      .finally(() => {
        log.flush();
        process.exit(0);
      });
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

void main();
