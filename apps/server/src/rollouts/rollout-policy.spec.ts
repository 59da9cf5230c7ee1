import { announcementJitterSeconds, nextStep, phaseProblems, type PhaseReports, type RolloutProgress } from './rollout-policy';

const t0 = new Date('2026-11-01T00:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const reports = (finals: number, failures: number, recent = { finals, failures }, rollout = { finals, failures }): PhaseReports => ({
  finals,
  failures,
  recentFinals: recent.finals,
  recentFailures: recent.failures,
  rolloutFinals: rollout.finals,
  rolloutFailures: rollout.failures,
});
/** Reports of a phase that nobody new reported in, in a rollout with `finals` final reports, `failures` of them failed. */
const onlyEarlier = (finals: number, failures: number) => reports(0, 0, { finals: 0, failures: 0 }, { finals, failures });

const running = (overrides: Partial<RolloutProgress> = {}): RolloutProgress => ({
  state: 'running',
  phases: [
    { percent: 10, holdSeconds: 60 },
    { percent: 50, holdSeconds: 60 },
    { percent: 100, holdSeconds: 0 },
  ],
  phaseIndex: 0,
  phaseStartedAt: t0,
  startAt: t0,
  maxFailureRate: 0.3,
  minReports: 3,
  ...overrides,
});

describe(nextStep.name, () => {
  it.each([
    ['waits for its start time', { state: 'scheduled', startAt: at(10) }, reports(0, 0), at(5), 'wait'],
    ['starts once the start time is reached', { state: 'scheduled', startAt: at(10) }, reports(0, 0), at(10), 'start'],
    ['holds a healthy phase until its hold time is over', {}, reports(10, 0), at(59), 'wait'],
    ['waits for enough final reports after the hold', {}, reports(2, 0), at(61), 'wait'],
    ['advances a healthy phase after the hold with enough reports', {}, reports(3, 0), at(61), 'advance'],
    ['advances at a failure rate equal to the limit', {}, reports(10, 3), at(61), 'advance'],
    ['pauses above the limit, even before the hold is over', {}, reports(3, 3), at(1), 'pause'],
    ['does not pause on fewer reports than the minimum', {}, reports(2, 2), at(1), 'wait'],
    ['judges a resumed phase on reports since the resume', {}, reports(10, 5, { finals: 3, failures: 0 }), at(61), 'advance'],
    ['pauses a resumed phase that keeps failing', {}, reports(10, 5, { finals: 3, failures: 2 }), at(61), 'pause'],
    ['completes after the last phase', { phaseIndex: 2 }, reports(3, 0), at(1), 'complete'],
    // Issue 10: every device installed in an earlier phase, so the last phase has no reports of its own.
    ['completes the last phase on the whole rollout’s reports', { phaseIndex: 2 }, onlyEarlier(3, 0), at(0), 'complete'],
    ['completes the last phase at a rollout failure rate equal to the limit', { phaseIndex: 2 }, onlyEarlier(10, 3), at(0), 'complete'],
    [
      'holds the last phase until its hold is over',
      {
        phases: [
          { percent: 10, holdSeconds: 60 },
          { percent: 100, holdSeconds: 30 },
        ],
        phaseIndex: 1,
      },
      onlyEarlier(3, 0),
      at(29),
      'wait',
    ],
    ['waits in the last phase for enough final reports across the rollout', { phaseIndex: 2 }, onlyEarlier(2, 0), at(1), 'wait'],
    ['does not complete while the rollout’s failure rate is above the limit', { phaseIndex: 2 }, onlyEarlier(10, 4), at(1), 'wait'],
    ['still pauses the last phase on failures within it', { phaseIndex: 2 }, reports(3, 3, { finals: 3, failures: 3 }, { finals: 20, failures: 3 }), at(1), 'pause'],
    ['keeps an intermediate phase waiting for reports of its own', { phaseIndex: 1 }, onlyEarlier(10, 0), at(61), 'wait'],
    ['does nothing while paused', { state: 'paused' }, reports(100, 0), at(1000), 'wait'],
    ['does nothing once aborted', { state: 'aborted' }, reports(100, 0), at(1000), 'wait'],
  ] as const)('%s', (_label, overrides, phaseReports, now, kind) => {
    expect(nextStep(running(overrides as Partial<RolloutProgress>), phaseReports, now).kind).toBe(kind);
  });

  it('says why it paused, with the rate and the limit', () => {
    const step = nextStep(running(), reports(4, 3), at(1));
    expect(step).toEqual({ kind: 'pause', reason: expect.stringContaining('75 % (3 of 4 final reports) in phase 1 (10 %) is above the limit of 30 %') });
  });

  it('says what completed the last phase: the whole rollout’s reports', () => {
    expect(nextStep(running({ phaseIndex: 2 }), onlyEarlier(4, 1), at(1))).toEqual({
      kind: 'complete',
      reason: expect.stringContaining('4 final reports across the rollout, 1 failed'),
    });
  });

  it('names the phase it opens', () => {
    expect(nextStep(running(), reports(3, 0), at(61))).toMatchObject({ kind: 'advance', toPhase: 1, reason: expect.stringContaining('opening phase 2 (50 %)') });
  });
});

describe(phaseProblems.name, () => {
  it('accepts increasing percents within 1..100', () => {
    expect(
      phaseProblems([
        { percent: 1, holdSeconds: 0 },
        { percent: 10, holdSeconds: 3600 },
        { percent: 100, holdSeconds: 0 },
      ]),
    ).toEqual([]);
  });

  it.each([
    [[], 'at least one phase'],
    [[{ percent: 0, holdSeconds: 0 }], 'from 1 to 100'],
    [[{ percent: 101, holdSeconds: 0 }], 'from 1 to 100'],
    [[{ percent: 10, holdSeconds: -1 }], 'holdSeconds'],
    [
      [
        { percent: 50, holdSeconds: 0 },
        { percent: 50, holdSeconds: 0 },
      ],
      'must be above',
    ],
    [
      [
        { percent: 50, holdSeconds: 0 },
        { percent: 10, holdSeconds: 0 },
      ],
      'must be above',
    ],
    [[{ percent: 12.5, holdSeconds: 0 }], 'whole number'],
  ])('refuses %j', (phases, problem) => {
    expect(phaseProblems(phases).join('; ')).toContain(problem);
  });
});

describe(announcementJitterSeconds.name, () => {
  it.each([
    ['keeps the rollout’s jitter without a pace', { jitterSeconds: 60, maxDevicesPerMinute: null }, 10_000, 50, 10, 60],
    ['spreads the newly invited 40 % of 10,000 devices at 100 a minute over 40 minutes', { jitterSeconds: 60, maxDevicesPerMinute: 100 }, 10_000, 50, 10, 2400],
    ['keeps the rollout’s jitter when the pace allows it', { jitterSeconds: 60, maxDevicesPerMinute: 1000 }, 100, 100, 0, 60],
    ['counts a part of a device as a device', { jitterSeconds: 0, maxDevicesPerMinute: 60 }, 3, 10, 0, 1],
  ])('%s', (_label, pace, fleetSize, percent, previousPercent, expected) => {
    expect(announcementJitterSeconds(pace, fleetSize, percent, previousPercent)).toBe(expected);
  });
});
