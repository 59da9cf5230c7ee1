import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallVolume {
  /** Mount point, writable by this process. */
  path: string;
  /** How the volume was made: a tmpfs, or a loop-mounted ext4 image where tmpfs cannot be mounted. */
  kind: 'tmpfs' | 'ext4-image';
  /** Bytes an unprivileged writer can still use on it. */
  freeBytes(): number;
  unmount(): void;
}

/** Runs a command as root: directly when this process is root, else through passwordless sudo. */
function asRoot(command: string, args: string[]): void {
  const [file, argv] = process.getuid?.() === 0 ? [command, args] : ['sudo', ['-n', command, ...args]];
  execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
}

function describeFailure(error: unknown): string {
  const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
  return stderr || (error instanceof Error ? error.message : String(error));
}

/**
 * A real, small filesystem on which writes fail with ENOSPC once it is full: a tmpfs, or, where
 * tmpfs cannot be mounted, a loop-mounted ext4 image. Throws (never skips) when neither works, so
 * a machine that cannot run the full-disk tests fails them visibly. Call unmount() when done.
 */
export function mountSmallVolume(sizeBytes: number): SmallVolume {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  const path = mkdtempSync(join(tmpdir(), 'ota-small-volume-'));
  const volume = (kind: SmallVolume['kind'], cleanup: () => void = () => undefined): SmallVolume => ({
    path,
    kind,
    freeBytes: () => {
      const stats = statfsSync(path);
      return stats.bavail * stats.bsize;
    },
    unmount: () => {
      asRoot('umount', [path]);
      cleanup();
      rmSync(path, { recursive: true, force: true });
    },
  });

  const failures: string[] = [];
  try {
    asRoot('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700,uid=${uid},gid=${gid}`, 'tmpfs', path]);
    return volume('tmpfs');
  } catch (error) {
    failures.push(`tmpfs: ${describeFailure(error)}`);
  }

  const imageDir = mkdtempSync(join(tmpdir(), 'ota-small-image-'));
  const image = join(imageDir, 'volume.ext4');
  const removeImage = () => rmSync(imageDir, { recursive: true, force: true });
  try {
    // ext4 needs room for its journal and metadata: never smaller than 16 MiB.
    const imageBytes = Math.max(sizeBytes, 16 * 1024 * 1024);
    execFileSync('truncate', ['-s', String(imageBytes), image]);
    execFileSync('mke2fs', ['-q', '-F', '-t', 'ext4', '-m', '0', '-E', `root_owner=${uid}:${gid}`, image], { stdio: ['ignore', 'pipe', 'pipe'] });
    asRoot('mount', ['-o', 'loop', image, path]);
    return volume('ext4-image', removeImage);
  } catch (error) {
    failures.push(`ext4 image: ${describeFailure(error)}`);
    removeImage();
  }

  rmSync(path, { recursive: true, force: true });
  throw new Error(`cannot make a small volume for the full-disk tests (they need root or passwordless sudo to mount one):\n${failures.join('\n')}`);
}

/** Fills a volume with one file until the filesystem refuses more (ENOSPC); answers that file's path. */
export function fillVolume(volume: SmallVolume, name = 'filler'): string {
  const file = join(volume.path, name);
  // dd stops at ENOSPC with an error status, which is what we want here.
  try {
    execFileSync('dd', ['if=/dev/zero', `of=${file}`, 'bs=64k'], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    if (!describeFailure(error).includes('No space left on device')) throw error;
  }
  return file;
}
