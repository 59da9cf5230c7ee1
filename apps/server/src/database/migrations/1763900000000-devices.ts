import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Devices, what they have installed, and the status reports they send. */
export class Devices1763900000000 implements MigrationInterface {
  name = 'Devices1763900000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE devices (
        id varchar(128) PRIMARY KEY,
        attributes jsonb NOT NULL DEFAULT '{}',
        token_hash char(64),
        registered boolean NOT NULL DEFAULT false,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_seen_at timestamptz
      )`);
    await db.query(`
      CREATE TABLE device_inventory (
        device_id varchar(128) NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        component varchar(64) NOT NULL,
        version varchar(64) NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (device_id, component)
      )`);
    await db.query(`
      CREATE TABLE status_reports (
        id bigserial PRIMARY KEY,
        device_id varchar(128) NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        component varchar(64) NOT NULL,
        version varchar(64) NOT NULL,
        state varchar(16) NOT NULL CHECK (state IN ('downloading', 'downloaded', 'installing', 'installed', 'failed', 'rolled_back')),
        detail text,
        rollout_id uuid,
        dedupe_key char(64) NOT NULL,
        received_at timestamptz NOT NULL DEFAULT now()
      )`);
    // A report delivered twice (an HTTP retry, an MQTT QoS 1 redelivery) is stored once.
    await db.query(`CREATE UNIQUE INDEX status_reports_dedupe ON status_reports (device_id, dedupe_key)`);
    await db.query(`CREATE INDEX status_reports_device_time ON status_reports (device_id, received_at DESC)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE status_reports`);
    await db.query(`DROP TABLE device_inventory`);
    await db.query(`DROP TABLE devices`);
  }
}
