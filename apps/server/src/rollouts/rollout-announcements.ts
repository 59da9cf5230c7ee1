/** What devices are told when a version becomes available to them (a rollout phase opening). */
export interface RolloutAnnouncement {
  component: string;
  channel: string;
  version: string;
  selectors: Record<string, string>;
  /** Devices with a cohort below this are in; 100 means everyone. */
  maxCohort: number;
  /** A device waits a random 0..jitterSeconds before checking, spreading the load. */
  jitterSeconds: number;
}

/**
 * The port through which rollouts tell devices that a phase opened, owned by this feature and
 * implemented by a device transport that reaches devices unasked (MQTT binds its AnnounceService
 * to this token); the application chooses which (see RolloutsModule.register). The rollouts
 * feature never imports a transport.
 */
export abstract class RolloutAnnouncer {
  /** Resolves once the announcement is on its way to devices. */
  abstract announce(announcement: RolloutAnnouncement): Promise<void>;
}
