import type { MigrationInterface, QueryRunner } from 'typeorm';

/** API keys, components, artifacts, channels and the catalog revision counter. */
export class Foundation1763800000000 implements MigrationInterface {
  name = 'Foundation1763800000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE api_keys (
        id uuid PRIMARY KEY,
        name varchar(100) NOT NULL,
        scope varchar(10) NOT NULL CHECK (scope IN ('read', 'write', 'admin')),
        key_hash char(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_used_at timestamptz,
        revoked_at timestamptz
      )`);
    await db.query(`CREATE UNIQUE INDEX api_keys_key_hash ON api_keys (key_hash)`);
    await db.query(`
      CREATE TABLE components (
        id uuid PRIMARY KEY,
        name varchar(64) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE UNIQUE INDEX components_name_ci ON components (lower(name))`);
    await db.query(`
      CREATE TABLE artifacts (
        id uuid PRIMARY KEY,
        component_id uuid NOT NULL REFERENCES components (id) ON DELETE CASCADE,
        version varchar(64) NOT NULL,
        version_key varchar(200) NOT NULL,
        sha256 char(64) NOT NULL,
        md5 char(32) NOT NULL,
        size bigint NOT NULL CHECK (size >= 0),
        requires_from varchar(64),
        notes text,
        chunk_size integer NOT NULL CHECK (chunk_size > 0),
        chunk_hashes bytea NOT NULL,
        storage_tier varchar(8) NOT NULL DEFAULT 'hot' CHECK (storage_tier IN ('hot', 'cold')),
        created_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE UNIQUE INDEX artifacts_component_version ON artifacts (component_id, version_key)`);
    await db.query(`CREATE INDEX artifacts_sha256 ON artifacts (sha256)`);
    await db.query(`
      CREATE TABLE channels (
        id uuid PRIMARY KEY,
        component_id uuid NOT NULL REFERENCES components (id) ON DELETE CASCADE,
        name varchar(64) NOT NULL,
        artifact_id uuid NOT NULL REFERENCES artifacts (id) ON DELETE RESTRICT,
        attributes text[] NOT NULL DEFAULT '{}',
        allow_downgrade boolean NOT NULL DEFAULT false,
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE UNIQUE INDEX channels_component_name_ci ON channels (component_id, lower(name))`);
    await db.query(`CREATE INDEX channels_artifact ON channels (artifact_id)`);
    // One row, bumped in every transaction that changes what devices are offered; replicas compare it.
    await db.query(`
      CREATE TABLE catalog_revision (
        id smallint PRIMARY KEY CHECK (id = 1),
        revision bigint NOT NULL,
        changed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`INSERT INTO catalog_revision (id, revision) VALUES (1, 1)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE catalog_revision`);
    await db.query(`DROP TABLE channels`);
    await db.query(`DROP TABLE artifacts`);
    await db.query(`DROP TABLE components`);
    await db.query(`DROP TABLE api_keys`);
  }
}
