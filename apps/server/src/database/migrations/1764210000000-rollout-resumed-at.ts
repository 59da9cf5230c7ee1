import type { MigrationInterface, QueryRunner } from 'typeorm';

/** When an operator last resumed a rollout: failures before it no longer hold back its completion. */
export class RolloutResumedAt1764210000000 implements MigrationInterface {
  name = 'RolloutResumedAt1764210000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE rollouts ADD COLUMN resumed_at timestamptz`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER TABLE rollouts DROP COLUMN resumed_at`);
  }
}
