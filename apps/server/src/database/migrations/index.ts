import { Foundation1763800000000 } from './1763800000000-foundation';
import { Devices1763900000000 } from './1763900000000-devices';
import { Rollouts1764000000000 } from './1764000000000-rollouts';
import { Manifests1764100000000 } from './1764100000000-manifests';
import { RolloutResumedAt1764210000000 } from './1764210000000-rollout-resumed-at';
import { PeerOwners1764300000000 } from './1764300000000-peer-owners';

/** Every migration, oldest first. Listed explicitly so the same list runs from TypeScript (tests) and dist. */
export const migrations = [Foundation1763800000000, Devices1763900000000, Rollouts1764000000000, Manifests1764100000000, RolloutResumedAt1764210000000, PeerOwners1764300000000];
