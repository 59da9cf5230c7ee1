import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Signed artifact manifests, stored so that every replica serves the same bytes, and the peer agents' site roster. */
export class Manifests1764100000000 implements MigrationInterface {
  name = 'Manifests1764100000000';

  async up(db: QueryRunner): Promise<void> {
    // One manifest per content hash. It names the first stored artifact with these bytes and goes
    // with it (ON DELETE CASCADE): the next request builds one for the artifact that remains.
    await db.query(`
      CREATE TABLE manifests (
        sha256 char(64) PRIMARY KEY,
        artifact_id uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
        key_id char(16) NOT NULL,
        manifest text NOT NULL,
        signature text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX manifests_artifact ON manifests (artifact_id)`);
    await db.query(`
      CREATE TABLE peer_roster (
        site varchar(64) NOT NULL,
        peer_id varchar(128) NOT NULL,
        addrs text[] NOT NULL,
        http_url varchar(512),
        device_id varchar(128),
        last_seen timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        PRIMARY KEY (site, peer_id)
      )`);
    await db.query(`CREATE INDEX peer_roster_site_expiry ON peer_roster (site, expires_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE peer_roster`);
    await db.query(`DROP TABLE manifests`);
  }
}
