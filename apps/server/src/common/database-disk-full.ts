/**
 * PostgreSQL's disk_full (SQLSTATE 53100), as the driver or TypeORM's QueryFailedError carries it.
 * The embedded database answers it too once DATA_DIR fills ("could not extend file").
 */
export function isDatabaseDiskFull(error: unknown): boolean {
  const { code, driverError } = (error ?? {}) as { code?: unknown; driverError?: { code?: unknown } };
  return code === '53100' || driverError?.code === '53100';
}

export const DATABASE_DISK_FULL_MESSAGE = 'the database has no space left on its disk; nothing was stored. Free some space, then try again';
