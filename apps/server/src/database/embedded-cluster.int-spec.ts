import { PGlite } from '@electric-sql/pglite';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir } from '@test/support/temp-dir';
import { createClusterIfMissing } from './embedded-cluster';

describe(createClusterIfMissing.name, () => {
  let dir: ReturnType<typeof makeTempDir>;

  beforeEach(() => (dir = makeTempDir()));
  afterEach(() => dir.remove());

  it('creates a cluster with the small shared buffers, replacing what an interrupted first start left', async () => {
    const dataDir = join(dir.path, 'pglite');
    const leftover = join(dir.path, '.pglite.initdb-4242');
    mkdirSync(leftover);
    writeFileSync(join(leftover, 'PG_VERSION'), '18\n');

    await createClusterIfMissing(dataDir);

    expect(readdirSync(dir.path)).toEqual(['pglite']);
    const db = await PGlite.create({ dataDir });
    try {
      expect((await db.query<{ answer: number }>('SELECT 41 + 1 AS answer')).rows).toEqual([{ answer: 42 }]);
      // From the cluster's postgresql.conf: nothing passed at this start.
      expect((await db.query('SHOW shared_buffers')).rows).toEqual([{ shared_buffers: '16MB' }]);
    } finally {
      await db.close();
    }
  });

  it('leaves a folder that already holds files to PGlite', async () => {
    const dataDir = join(dir.path, 'pglite');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'PG_VERSION'), '18\n');

    await createClusterIfMissing(dataDir);

    expect(readdirSync(dataDir)).toEqual(['PG_VERSION']);
    expect(readdirSync(dir.path)).toEqual(['pglite']);
  });
});
