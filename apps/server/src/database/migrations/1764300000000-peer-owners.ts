import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Which device owns each peer id in the site roster (the first to register it, until an operator
 * releases it), and the site a device is registered in, which the roster holds it to.
 */
export class PeerOwners1764300000000 implements MigrationInterface {
  name = 'PeerOwners1764300000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE peer_owners (
        peer_id varchar(128) PRIMARY KEY,
        device_id varchar(128) NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
        claimed_at timestamptz NOT NULL DEFAULT now()
      )`);
    await db.query(`CREATE INDEX peer_owners_device ON peer_owners (device_id)`);
    // The attributes column is overwritten by what a device checks in with over MQTT; the site an
    // operator registered it in must not be, so it gets a column of its own. Until now only the
    // attributes knew it: they are the best guess for devices registered before this migration.
    await db.query(`ALTER TABLE devices ADD COLUMN site varchar(256)`);
    await db.query(`UPDATE devices SET site = attributes->>'site' WHERE registered AND attributes->>'site' IS NOT NULL`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE devices DROP COLUMN site`);
    await db.query(`DROP TABLE peer_owners`);
  }
}
