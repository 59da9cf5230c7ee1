import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import * as lockfile from 'proper-lockfile';

const STALE_MS = 10_000;

export class DataDirInUseError extends Error {
  constructor(readonly dataDir: string) {
    super(
      `DATA_DIR ${dataDir} is in use by another running appliance. The embedded database cannot be shared: ` +
        'stop the other instance, point this one at another DATA_DIR, or set DATABASE_URL to use PostgreSQL.',
    );
    this.name = 'DataDirInUseError';
  }
}

/**
 * Takes an exclusive lock on DATA_DIR for as long as the process runs. PGlite has no lock of its own:
 * two processes on one folder silently lose writes. The lock is refreshed every few seconds, so one
 * left behind by a crashed process goes stale and is taken over; a live holder keeps it.
 */
export async function lockDataDir(dataDir: string, onCompromised: (error: Error) => void): Promise<() => Promise<void>> {
  mkdirSync(dataDir, { recursive: true });
  try {
    return await lockfile.lock(dataDir, {
      lockfilePath: join(dataDir, '.appliance.lock'),
      stale: STALE_MS,
      update: STALE_MS / 2,
      // A lock refreshed within the stale window means a live owner; wait out one window before giving up.
      retries: { retries: 6, factor: 1, minTimeout: 2_000, maxTimeout: 2_000 },
      realpath: false,
      onCompromised,
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ELOCKED') throw new DataDirInUseError(dataDir);
    throw error;
  }
}
