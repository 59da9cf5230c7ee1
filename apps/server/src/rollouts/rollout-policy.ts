/** One step of a rollout: `percent` of cohorts get the new version, for at least `holdSeconds`. */
export interface Phase {
  percent: number;
  holdSeconds: number;
}

export type RolloutState = 'scheduled' | 'running' | 'paused' | 'completed' | 'aborted';
export const ACTIVE_STATES: readonly RolloutState[] = ['scheduled', 'running', 'paused'];

export interface RolloutProgress {
  state: RolloutState;
  phases: readonly Phase[];
  phaseIndex: number;
  phaseStartedAt: Date | null;
  startAt: Date;
  maxFailureRate: number;
  minReports: number;
}

/**
 * Final reports of the current phase: all of them, and those since failures were last reset (the
 * phase start, or an operator's resume) — a resumed rollout is judged on what happens next. The
 * last phase is judged on the whole rollout (`rollout*`): devices that installed in an earlier
 * phase have nothing new to report in it.
 */
export interface PhaseReports {
  finals: number;
  failures: number;
  recentFinals: number;
  recentFailures: number;
  /**
   * Final reports of every phase. Failures reported before an operator's last resume are left out:
   * the resume accepted them, and the device's next report (it is offered the version again) counts.
   */
  rolloutFinals: number;
  /** Failures among `rolloutFinals`. */
  rolloutFailures: number;
}

export type RolloutStep =
  | { kind: 'start'; reason: string }
  | { kind: 'pause'; reason: string }
  | { kind: 'advance'; toPhase: number; reason: string }
  | { kind: 'complete'; reason: string }
  | { kind: 'wait'; reason: string };

const percent = (value: number) => `${Math.round(value * 1000) / 10} %`;

/**
 * What a rollout should do now. Pure: the scheduler evaluates it every tick, whatever drives the
 * ticks (BullMQ or the in-process timer). Failures are checked before the hold time, so a bad
 * build stops spreading at the first tick after the limit is crossed.
 */
export function nextStep(rollout: RolloutProgress, reports: PhaseReports, now: Date): RolloutStep {
  switch (rollout.state) {
    case 'scheduled':
      return now >= rollout.startAt
        ? { kind: 'start', reason: `start time ${rollout.startAt.toISOString()} reached` }
        : { kind: 'wait', reason: `starts at ${rollout.startAt.toISOString()}` };
    case 'paused':
    case 'completed':
    case 'aborted':
      return { kind: 'wait', reason: `rollout is ${rollout.state}` };
    case 'running':
      break;
  }
  const phase = rollout.phases[rollout.phaseIndex];
  const phaseName = `phase ${rollout.phaseIndex + 1} (${phase.percent} %)`;
  if (reports.recentFinals >= rollout.minReports) {
    const rate = reports.recentFailures / reports.recentFinals;
    if (rate > rollout.maxFailureRate) {
      return {
        kind: 'pause',
        reason: `failure rate ${percent(rate)} (${reports.recentFailures} of ${reports.recentFinals} final reports) in ${phaseName} is above the limit of ${percent(rollout.maxFailureRate)}`,
      };
    }
  }
  const heldMs = now.getTime() - (rollout.phaseStartedAt?.getTime() ?? now.getTime());
  if (heldMs < phase.holdSeconds * 1000) {
    return { kind: 'wait', reason: `${phaseName} holds until ${new Date(now.getTime() + phase.holdSeconds * 1000 - heldMs).toISOString()}` };
  }
  if (rollout.phaseIndex === rollout.phases.length - 1) return completion(rollout, reports, phaseName, phase.holdSeconds);
  if (reports.finals < rollout.minReports) {
    return { kind: 'wait', reason: `${phaseName} has ${reports.finals} of the ${rollout.minReports} final reports it needs` };
  }
  const healthy = `${phaseName} held ${phase.holdSeconds} s with ${reports.finals} final reports, ${reports.failures} failed`;
  const next = rollout.phases[rollout.phaseIndex + 1];
  return { kind: 'advance', toPhase: rollout.phaseIndex + 1, reason: `${healthy}; opening phase ${rollout.phaseIndex + 2} (${next.percent} %)` };
}

/**
 * The last phase, its hold over, is judged on the whole rollout: devices that installed in an
 * earlier phase have nothing new to report in it, so reports of its own may never come (a small
 * fleet, or one whose devices all joined early). Failures within the phase still pause it. An
 * intermediate phase keeps needing reports of its own: opening the next phase rests on what the
 * devices it invited did.
 */
function completion(rollout: RolloutProgress, reports: PhaseReports, phaseName: string, holdSeconds: number): RolloutStep {
  const { rolloutFinals: finals, rolloutFailures: failures } = reports;
  if (finals < rollout.minReports) {
    return { kind: 'wait', reason: `${phaseName} is the last; the rollout has ${finals} of the ${rollout.minReports} final reports it needs to complete` };
  }
  const rate = failures / finals;
  const counted = `${finals} final reports across the rollout, ${failures} failed`;
  if (rate > rollout.maxFailureRate) {
    return { kind: 'wait', reason: `${phaseName} is the last; the rollout's failure rate ${percent(rate)} (${counted}) is above the limit of ${percent(rollout.maxFailureRate)}` };
  }
  return { kind: 'complete', reason: `${phaseName} held ${holdSeconds} s; ${counted}; the channel now points at the new version` };
}

/** Problems with a phase list, for a clear 400. */
export function phaseProblems(phases: readonly Phase[]): string[] {
  const problems: string[] = [];
  if (phases.length === 0) problems.push('phases must list at least one phase');
  phases.forEach((phase, i) => {
    if (!Number.isInteger(phase.percent) || phase.percent < 1 || phase.percent > 100) problems.push(`phases[${i}].percent must be a whole number from 1 to 100`);
    if (!Number.isInteger(phase.holdSeconds) || phase.holdSeconds < 0) problems.push(`phases[${i}].holdSeconds must be a whole number of seconds, 0 or more`);
    if (i > 0 && phase.percent <= phases[i - 1].percent) problems.push(`phases[${i}].percent (${phase.percent}) must be above the previous phase's (${phases[i - 1].percent})`);
  });
  return problems;
}

/**
 * The jitter window of a phase's announcement: the rollout's own, grown with `maxDevicesPerMinute`
 * so that the share of the known fleet the phase newly invites checks no faster than that.
 */
export function announcementJitterSeconds(
  pace: { jitterSeconds: number; maxDevicesPerMinute: number | null },
  fleetSize: number,
  percent: number,
  previousPercent: number,
): number {
  if (!pace.maxDevicesPerMinute) return pace.jitterSeconds;
  const invited = Math.ceil((fleetSize * (percent - previousPercent)) / 100);
  return Math.max(pace.jitterSeconds, Math.ceil((invited / pace.maxDevicesPerMinute) * 60));
}
