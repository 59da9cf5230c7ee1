import { Foundation1763800000000 } from './1763800000000-foundation';
import { Devices1763900000000 } from './1763900000000-devices';
import { Rollouts1764000000000 } from './1764000000000-rollouts';
import { Manifests1764100000000 } from './1764100000000-manifests';

/** Every migration, oldest first. Listed explicitly so the same list runs from TypeScript (tests) and dist. */
export const migrations = [Foundation1763800000000, Devices1763900000000, Rollouts1764000000000, Manifests1764100000000];
