#!/usr/bin/env node
// Builds dist/ when it is missing or older than the sources, so `npm start`, `npm test`
// and the tools always run what is checked out. `--force` rebuilds unconditionally.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'dist', '.build-stamp');
const inputs = ['apps', 'libs', 'tsconfig.json', 'tsconfig.build.json', 'nest-cli.json', 'package-lock.json'];

function newestMtime(path) {
  const info = statSync(path);
  if (!info.isDirectory()) return info.mtimeMs;
  let newest = info.mtimeMs;
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules') continue;
    newest = Math.max(newest, newestMtime(join(path, entry)));
  }
  return newest;
}

const force = process.argv.includes('--force');
const sourcesChangedAt = Math.max(...inputs.filter((p) => existsSync(join(root, p))).map((p) => newestMtime(join(root, p))));
const builtAt = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;

if (force || sourcesChangedAt > builtAt) {
  // Stamp with the start time: a file saved while the build runs makes the next run build again.
  const startedAt = new Date();
  process.stderr.write(force ? 'Building…\n' : 'Sources changed since the last build: building…\n');
  for (const project of process.argv.includes('--server-only') ? ['server'] : ['server', 'peer-agent']) {
    execFileSync(join(root, 'node_modules', '.bin', 'nest'), ['build', project], { cwd: root, stdio: 'inherit' });
  }
  writeFileSync(stamp, startedAt.toISOString());
  utimesSync(stamp, startedAt, startedAt);
}
