import { Foundation1763800000000 } from './1763800000000-foundation';
import { Devices1763900000000 } from './1763900000000-devices';
import { Manifests1764100000000 } from './1764100000000-manifests';

/** Every migration, oldest first. Listed explicitly so the same list runs from TypeScript (tests) and dist. */
export const migrations = [Foundation1763800000000, Devices1763900000000, Manifests1764100000000];
