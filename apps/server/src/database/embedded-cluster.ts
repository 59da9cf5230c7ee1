import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, rmdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setFlagsFromString } from 'node:v8';

/**
 * V8 flags that keep WebAssembly on its baseline compiler (Liftoff). The optimising tier recompiles
 * PostgreSQL's hot functions on background threads, and the process keeps what they allocated
 * (glibc's per-thread arenas): 70 MiB after a few queries, 300 to 450 MiB more in some runs.
 * Baseline code costs about 1.5× the CPU on aggregate queries and nothing measurable on writes; the
 * embedded database serves a small installation, and the optimising compiler's own CPU is saved.
 * `--liftoff-only` alone is not enough when set at run time (its implications are applied only at start).
 */
export const BASELINE_WASM_FLAGS = ['--liftoff-only', '--no-wasm-tier-up', '--no-wasm-dynamic-tiering'];

let baselineWasmSet = false;

/** Applies {@link BASELINE_WASM_FLAGS} to this process; must run before PGlite compiles its module. */
export function useBaselineWasmCompiler(): void {
  if (baselineWasmSet) return;
  setFlagsFromString(BASELINE_WASM_FLAGS.join(' '));
  baselineWasmSet = true;
}

/**
 * PostgreSQL settings of the embedded database, on top of PGlite's own. PGlite's initdb writes the
 * stock shared_buffers of 128 MB, all of it resident from the start (WebAssembly memory never
 * shrinks); 16 MB holds the appliance's working set, and reads beyond it come from the kernel's
 * page cache. Written into a new cluster's postgresql.conf and passed at every start (clusters
 * created before carry 128 MB).
 */
export const EMBEDDED_POSTGRES_SETTINGS = ['shared_buffers=16MB'];

/** PGlite's start parameters with {@link EMBEDDED_POSTGRES_SETTINGS}. */
export function embeddedStartParams(pgliteDefaults: readonly string[]): string[] {
  return [...pgliteDefaults, ...EMBEDDED_POSTGRES_SETTINGS.flatMap((setting) => ['-c', setting])];
}

/**
 * Run in a child process: PGlite creates the cluster (initdb) in `dataDir`, shuts it down cleanly
 * and the process exits. argv: [PGlite's entry point, dataDir, settings as JSON].
 */
const INITDB_SCRIPT = `
const [entry, dataDir, settingsJson] = process.argv.slice(1);
const { PGlite } = require(entry);
const settings = JSON.parse(settingsJson);
PGlite.create({
  dataDir,
  initDbStartParams: settings.flatMap((setting) => ['--set', setting]),
  startParams: [...PGlite.defaultStartParams, ...settings.flatMap((setting) => ['-c', setting])],
})
  .then((db) => db.close())
  .catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exitCode = 1; });
`;

function isMissingOrEmpty(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Creates the embedded database's cluster in `dataDir` when there is none yet, in a short-lived
 * child process. PGlite's own first start runs initdb inside the calling process (a second
 * PostgreSQL and the initdb program, each in its own WebAssembly memory), and the serving process
 * kept much of it (bench/idle-memory: about 500 MiB idle after a first start, 200 now). The child
 * builds the cluster in a sibling folder that is renamed into place only when complete, so an
 * interrupted first start leaves nothing half-made for the next one to trust.
 *
 * A `dataDir` that has files but no cluster is left to PGlite, as before.
 */
export async function createClusterIfMissing(dataDir: string): Promise<void> {
  if (!isMissingOrEmpty(dataDir)) return;
  const parent = dirname(dataDir);
  const prefix = `.${basename(dataDir)}.initdb-`;
  // Left by interrupted first starts (whose child may even still be writing): the holder of DATA_DIR's lock owns them.
  for (const leftover of readdirSync(parent).filter((name) => name.startsWith(prefix))) rmSync(join(parent, leftover), { recursive: true, force: true });
  const building = join(parent, `${prefix}${process.pid}`);

  const args = [...BASELINE_WASM_FLAGS, '-e', INITDB_SCRIPT, require.resolve('@electric-sql/pglite'), building, JSON.stringify(EMBEDDED_POSTGRES_SETTINGS)];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0 || !existsSync(join(building, 'PG_VERSION'))) {
    rmSync(building, { recursive: true, force: true });
    throw new Error(`creating the embedded database in ${dataDir} failed (${signal ?? `exit code ${code}`}): ${stderr.trim() || 'no output'}`);
  }

  if (existsSync(dataDir)) rmdirSync(dataDir);
  renameSync(building, dataDir);
  fsyncDir(parent);
}
