import { PGlite, types, type PGliteOptions, type Results } from '@electric-sql/pglite';
import { EventEmitter } from 'node:events';
import { createClusterIfMissing, embeddedStartParams, useBaselineWasmCompiler } from './embedded-cluster';

type Release = (error?: unknown) => void;
type ConnectCallback = (error: unknown, client: PgliteClient | null, release: Release) => void;
type QueryCallback = (error: unknown, result: Results | null) => void;

/**
 * Parsers that make PGlite answer like node-postgres, so entities behave the same on both
 * databases: int8 and numeric as strings (TypeORM transforms them), everything else as PGlite parses it.
 */
const pgCompatibleParsers = {
  [types.INT8]: (value: string) => value,
  [types.NUMERIC]: (value: string) => value,
};

const booleanSerializer = (value: unknown) => {
  if (value === true || value === 'true' || value === 1) return 'TRUE';
  if (value === false || value === 'false' || value === 0) return 'FALSE';
  return String(value);
};

/** A FIFO mutex: PGlite is one connection, so whoever holds a "client" owns it until release. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();

  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => held);
    return ready;
  }
}

class PgliteClient extends EventEmitter {
  constructor(private readonly db: PGlite) {
    super();
  }

  async query(sql: string, params?: unknown[] | QueryCallback, callback?: QueryCallback): Promise<Results> {
    const values = typeof params === 'function' ? undefined : params;
    const done = typeof params === 'function' ? params : callback;
    try {
      const result = values && values.length > 0 ? await this.db.query<Record<string, unknown>>(sql, values) : ((await this.db.exec(sql)).at(-1) ?? { rows: [], fields: [] });
      done?.(null, result);
      return result;
    } catch (error) {
      done?.(error, null);
      throw error;
    }
  }
}

/**
 * The subset of node-postgres' module that TypeORM's postgres driver uses (`options.driver`),
 * backed by one embedded PGlite database. Unlike a shared-connection adapter, a checked-out client
 * is exclusive until released, so concurrent transactions never interleave on the single connection.
 */
export function createPgliteDriver(options: PGliteOptions & { dataDir: string }) {
  let instance: Promise<PGlite> | undefined;
  const open = () =>
    (instance ??= createClusterIfMissing(options.dataDir).then(() => {
      useBaselineWasmCompiler();
      return PGlite.create({
        startParams: embeddedStartParams(PGlite.defaultStartParams),
        ...options,
        parsers: { ...pgCompatibleParsers, ...options.parsers },
        serializers: { [types.BOOL]: booleanSerializer, ...options.serializers },
      });
    }));
  const mutex = new Mutex();

  class Pool extends EventEmitter {
    constructor(_connectionOptions: unknown) {
      super();
    }

    connect(callback: ConnectCallback): void {
      void (async () => {
        let releaseMutex: (() => void) | undefined;
        try {
          releaseMutex = await mutex.acquire();
          const db = await open();
          let released = false;
          callback(null, new PgliteClient(db), () => {
            if (released) return;
            released = true;
            releaseMutex!();
          });
        } catch (error) {
          releaseMutex?.();
          callback(error, null, () => undefined);
        }
      })();
    }

    end(callback?: (error?: unknown) => void): void {
      const closing = instance ? instance.then((db) => db.close()) : Promise.resolve();
      instance = undefined;
      closing.then(
        () => callback?.(),
        (error: unknown) => callback?.(error),
      );
    }
  }

  return { Pool, defaults: {} };
}
