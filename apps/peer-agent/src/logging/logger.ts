import pino from 'pino';
import type { LogLevel } from '../config/agent-config';

/** The logger shape the agent's modules depend on (pino's, narrowed so tests can pass a silent one). */
export type Logger = pino.Logger;

/**
 * Structured JSON logs on stderr: stdout is reserved for the single ready line that scripts wait for.
 */
export function createLogger(level: LogLevel): Logger {
  return pino({ level, base: { app: 'peer-agent' } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
