import { Injectable } from '@nestjs/common';
import { Gauge } from 'prom-client';
import { DataSource } from 'typeorm';
import { MetricsService } from '../metrics/metrics.service';
import { RolloutScheduler } from './rollout-scheduler';

interface ActiveRow {
  id: string;
  component: string;
  channel: string;
  version: string;
  state: string;
  phase_index: number;
  percent: number | null;
}

/**
 * Per-rollout gauges for rollouts in flight, read from the database when Prometheus scrapes
 * (one query for the rollouts, one aggregate for their device states).
 */
@Injectable()
export class RolloutMetrics {
  constructor(dataSource: DataSource, scheduler: RolloutScheduler, metrics: MetricsService) {
    const registers = [metrics.registry];
    const labelNames = ['rollout', 'component', 'channel', 'version'] as const;
    const phase = new Gauge({ name: 'ota_rollout_phase', help: 'Current phase of each active rollout (1-based; 0 before it starts)', labelNames, registers });
    const percent = new Gauge({ name: 'ota_rollout_percent', help: 'Cohorts (0-100) offered the new version by each running rollout', labelNames, registers });
    const paused = new Gauge({ name: 'ota_rollout_paused', help: '1 when the rollout is paused', labelNames, registers });
    const reports = new Gauge({ name: 'ota_rollout_devices', help: 'Devices by latest state in each active rollout', labelNames: [...labelNames, 'state'], registers });
    const failureRate = new Gauge({ name: 'ota_rollout_failure_rate', help: 'failed + rolled_back over final reports in the current phase', labelNames, registers });
    new Gauge({
      name: 'ota_rollout_failed_ticks',
      help: 'Rollout evaluations that failed after their retries (the scheduler’s failed set)',
      registers,
      async collect() {
        this.set(await scheduler.failedTicks().catch(() => 0));
      },
    });

    let refreshing: Promise<void> | undefined;
    const refresh = async () => {
      const active = (await dataSource.query(
        `SELECT r.id, c.name AS component, ch.name AS channel, a.version, r.state, r.phase_index,
                CASE WHEN r.phase_index >= 0 THEN (r.phases -> r.phase_index ->> 'percent')::int END AS percent
           FROM rollouts r JOIN components c ON c.id = r.component_id JOIN channels ch ON ch.id = r.channel_id JOIN artifacts a ON a.id = r.artifact_id
          WHERE r.state IN ('scheduled', 'running', 'paused')`,
      )) as ActiveRow[];
      const states = active.length
        ? ((await dataSource.query(
            `SELECT s.rollout_id, s.state, s.phase_index, count(*)::int AS count FROM rollout_device_states s
              WHERE s.rollout_id = ANY($1::uuid[]) GROUP BY s.rollout_id, s.state, s.phase_index`,
            [active.map((r) => r.id)],
          )) as { rollout_id: string; state: string; phase_index: number; count: number }[])
        : [];
      for (const gauge of [phase, percent, paused, reports, failureRate]) gauge.reset();
      for (const r of active) {
        const labels = { rollout: r.id, component: r.component, channel: r.channel, version: r.version };
        phase.set(labels, Math.max(0, r.phase_index + 1));
        percent.set(labels, r.state === 'running' ? (r.percent ?? 0) : 0);
        paused.set(labels, r.state === 'paused' ? 1 : 0);
        const mine = states.filter((s) => s.rollout_id === r.id);
        const byState = new Map<string, number>();
        for (const s of mine) byState.set(s.state, (byState.get(s.state) ?? 0) + s.count);
        for (const [state, count] of byState) reports.set({ ...labels, state }, count);
        const current = mine.filter((s) => s.phase_index === r.phase_index);
        const finals = current.filter((s) => ['installed', 'failed', 'rolled_back'].includes(s.state)).reduce((n, s) => n + s.count, 0);
        const failures = current.filter((s) => s.state === 'failed' || s.state === 'rolled_back').reduce((n, s) => n + s.count, 0);
        if (finals > 0) failureRate.set(labels, failures / finals);
      }
    };
    // prom-client starts every metric's collect() of one scrape at once: they share one database read.
    const collect = async () => {
      refreshing ??= refresh().finally(() => (refreshing = undefined));
      await refreshing;
    };
    for (const gauge of [phase, percent, paused, reports, failureRate]) (gauge as unknown as { collect: () => Promise<void> }).collect = collect;
  }
}
