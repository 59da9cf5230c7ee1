import { Injectable } from '@nestjs/common';
import { Counter, Gauge, Histogram } from 'prom-client';
import { MetricsService } from '../metrics/metrics.service';
import type { RolloutStep } from './rollout-policy';
import { RolloutQueries } from './rollout-queries.service';
import { RolloutScheduler } from './rollout-scheduler';
import { RolloutRepository } from './rollout.repository';

/** What one tick's evaluation came to (skipped: a tick already evaluated elsewhere; gone: the rollout was deleted). */
export type EvaluationOutcome = RolloutStep['kind'] | 'skipped' | 'gone';

/**
 * The rollouts' metrics: how their ticks are evaluated (counted and timed as they happen), and
 * per-rollout gauges for rollouts in flight, read from the database when Prometheus scrapes (one
 * query for the rollouts, their names, and one aggregate for their device states).
 */
@Injectable()
export class RolloutMetrics {
  private readonly evaluations: Counter<'step'>;
  private readonly evaluationSeconds: Histogram;

  constructor(rollouts: RolloutRepository, queries: RolloutQueries, scheduler: RolloutScheduler, metrics: MetricsService) {
    const registers = [metrics.registry];
    this.evaluations = new Counter({
      name: 'ota_rollout_evaluations_total',
      help: 'Rollout ticks evaluated by this replica, by outcome (skipped: a tick already evaluated elsewhere)',
      labelNames: ['step'],
      registers,
    });
    this.evaluationSeconds = new Histogram({
      name: 'ota_rollout_evaluation_seconds',
      help: 'Time of one rollout tick evaluation (lock, one aggregate query, decision, write)',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });

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
      const active = await rollouts.listActive();
      const [names, states] = await Promise.all([queries.names(active), rollouts.deviceStateCounts(active.map((r) => r.id))]);
      for (const gauge of [phase, percent, paused, reports, failureRate]) gauge.reset();
      for (const r of active) {
        const { component, channel, version } = names(r);
        const labels = { rollout: r.id, component, channel, version };
        phase.set(labels, Math.max(0, r.phaseIndex + 1));
        percent.set(labels, r.state === 'running' && r.phaseIndex >= 0 ? r.phases[r.phaseIndex].percent : 0);
        paused.set(labels, r.state === 'paused' ? 1 : 0);
        const mine = states.filter((s) => s.rolloutId === r.id);
        const byState = new Map<string, number>();
        for (const s of mine) byState.set(s.state, (byState.get(s.state) ?? 0) + s.count);
        for (const [state, count] of byState) reports.set({ ...labels, state }, count);
        const current = mine.filter((s) => s.phaseIndex === r.phaseIndex);
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

  /** Starts timing one evaluation; call the result when it is done. */
  startEvaluation(): () => void {
    const stop = this.evaluationSeconds.startTimer();
    return () => void stop();
  }

  evaluated(outcome: EvaluationOutcome): void {
    this.evaluations.inc({ step: outcome });
  }
}
