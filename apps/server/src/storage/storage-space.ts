import { Injectable } from '@nestjs/common';
import { stat, statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Gauge } from 'prom-client';
import { AppConfig } from '../config/app-config';
import { MetricsService } from '../metrics/metrics.service';

/** What the appliance keeps under DATA_DIR that needs room to write. */
export type SpaceUse = 'objects' | 'database';

const USE_NAMES: Record<SpaceUse, string> = { objects: 'the object store', database: 'the embedded database' };

export interface VolumeSpace {
  /** What lives on this filesystem: the object store and the database usually share one. */
  uses: SpaceUse[];
  /** Bytes an unprivileged writer can still use. */
  freeBytes: number;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** The folder itself, or the closest parent that exists yet (the database folder appears at its first start). */
async function existingFolder(path: string): Promise<string> {
  for (let folder = path; ; folder = dirname(folder)) {
    try {
      await stat(folder);
      return folder;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(folder) === folder) throw error;
    }
  }
}

/**
 * Free space where the appliance writes under DATA_DIR (the filesystem object store, the embedded
 * database), against the floor STORAGE_MIN_FREE_BYTES. With S3 and PostgreSQL nothing of worth is
 * written there, and nothing is watched.
 */
@Injectable()
export class StorageSpace {
  readonly floorBytes: number;
  private readonly watched: { use: SpaceUse; path: string }[] = [];

  constructor(config: AppConfig, metrics: MetricsService) {
    this.floorBytes = config.storageMinFreeBytes;
    if (config.storage.kind === 'filesystem') this.watched.push({ use: 'objects', path: config.storage.root });
    if (config.database.kind === 'embedded') this.watched.push({ use: 'database', path: config.database.dataDir });
    if (!this.watches) return;

    const registers = [metrics.registry];
    const volumes = () => this.volumes();
    new Gauge({
      name: 'ota_storage_free_bytes',
      help: 'Bytes free on the filesystem under DATA_DIR that holds the object store (use="objects") or the embedded database (use="database")',
      labelNames: ['use'] as const,
      registers,
      async collect() {
        this.reset();
        for (const volume of await volumes().catch(() => [])) {
          for (const use of volume.uses) this.set({ use }, volume.freeBytes);
        }
      },
    });
    new Gauge({ name: 'ota_storage_min_free_bytes', help: 'STORAGE_MIN_FREE_BYTES: below it the appliance reports not ready and refuses uploads', registers }).set(this.floorBytes);
  }

  /** True when the appliance writes anything under DATA_DIR that a full disk would stop. */
  get watches(): boolean {
    return this.watched.length > 0;
  }

  /** Free space of each filesystem the appliance writes to under DATA_DIR, one entry per filesystem. */
  async volumes(): Promise<VolumeSpace[]> {
    const byDevice = new Map<number, VolumeSpace>();
    for (const { use, path } of this.watched) {
      const folder = await existingFolder(path);
      const [{ dev }, filesystem] = await Promise.all([stat(folder), statfs(folder)]);
      const known = byDevice.get(dev);
      if (known) known.uses.push(use);
      else byDevice.set(dev, { uses: [use], freeBytes: filesystem.bavail * filesystem.bsize });
    }
    return [...byDevice.values()];
  }

  /**
   * Bytes the object store may still take before its filesystem falls below the floor: the most an
   * upload of unknown length may write. Unbounded with the floor off, or with the binaries elsewhere.
   */
  async roomForObjects(): Promise<number> {
    if (this.floorBytes === 0) return Infinity;
    const volume = (await this.volumes()).find((candidate) => candidate.uses.includes('objects'));
    return volume ? Math.max(0, volume.freeBytes - this.floorBytes) : Infinity;
  }

  /**
   * Why the appliance should not take `incomingBytes` more into its object store (0: whether it
   * should write at all): a volume that would be left below the floor. Undefined when there is room.
   */
  async shortage(incomingBytes = 0): Promise<string | undefined> {
    for (const volume of await this.volumes()) {
      const incoming = volume.uses.includes('objects') ? incomingBytes : 0;
      if (volume.freeBytes - incoming >= this.floorBytes) continue;
      const free = `${formatBytes(volume.freeBytes)} free for ${volume.uses.map((use) => USE_NAMES[use]).join(' and ')}`;
      const floor = `STORAGE_MIN_FREE_BYTES (${formatBytes(this.floorBytes)})`;
      if (incoming === 0) return `${free}, below ${floor}`;
      if (this.floorBytes === 0) return `${free}, less than the ${formatBytes(incoming)} to store`;
      return `${free}: ${formatBytes(incoming)} more would leave less than ${floor}`;
    }
    return undefined;
  }
}
