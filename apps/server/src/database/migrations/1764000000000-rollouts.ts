import type { MigrationInterface, QueryRunner } from 'typeorm';

/** Staged rollouts, their history, and each device's latest state within a rollout. */
export class Rollouts1764000000000 implements MigrationInterface {
  name = 'Rollouts1764000000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`
      CREATE TABLE rollouts (
        id uuid PRIMARY KEY,
        component_id uuid NOT NULL REFERENCES components (id) ON DELETE CASCADE,
        -- The services refuse to delete a channel or version an active rollout uses; a finished
        -- rollout goes with them.
        channel_id uuid NOT NULL REFERENCES channels (id) ON DELETE CASCADE,
        artifact_id uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
        from_artifact_id uuid NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
        selectors jsonb NOT NULL DEFAULT '{}',
        phases jsonb NOT NULL,
        max_failure_rate double precision NOT NULL CHECK (max_failure_rate >= 0 AND max_failure_rate <= 1),
        min_reports integer NOT NULL CHECK (min_reports >= 1),
        start_at timestamptz NOT NULL,
        max_devices_per_minute integer CHECK (max_devices_per_minute > 0),
        jitter_seconds integer NOT NULL CHECK (jitter_seconds >= 0),
        state varchar(12) NOT NULL CHECK (state IN ('scheduled', 'running', 'paused', 'completed', 'aborted')),
        phase_index integer NOT NULL DEFAULT -1,
        phase_started_at timestamptz,
        failures_since timestamptz,
        evaluations integer NOT NULL DEFAULT 0,
        last_tick varchar(200),
        last_evaluated_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        finished_at timestamptz
      )`);
    // At most one rollout in flight per channel.
    await db.query(`CREATE UNIQUE INDEX rollouts_one_active_per_channel ON rollouts (channel_id) WHERE state IN ('scheduled', 'running', 'paused')`);
    await db.query(`CREATE INDEX rollouts_state ON rollouts (state)`);
    await db.query(`
      CREATE TABLE rollout_events (
        id bigserial PRIMARY KEY,
        rollout_id uuid NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
        at timestamptz NOT NULL DEFAULT now(),
        from_state varchar(12),
        to_state varchar(12) NOT NULL,
        phase_index integer NOT NULL,
        percent integer,
        reason text NOT NULL,
        actor varchar(120) NOT NULL
      )`);
    await db.query(`CREATE INDEX rollout_events_rollout ON rollout_events (rollout_id, at)`);
    await db.query(`
      CREATE TABLE rollout_device_states (
        rollout_id uuid NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
        device_id varchar(128) NOT NULL,
        state varchar(16) NOT NULL,
        phase_index integer NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (rollout_id, device_id)
      )`);
    // The one aggregate a tick runs: states of one phase of one rollout, with their times.
    await db.query(`CREATE INDEX rollout_device_states_phase ON rollout_device_states (rollout_id, phase_index, state, updated_at)`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE rollout_device_states`);
    await db.query(`DROP TABLE rollout_events`);
    await db.query(`DROP TABLE rollouts`);
  }
}
