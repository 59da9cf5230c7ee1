import { Foundation1763800000000 } from './1763800000000-foundation';

/** Every migration, oldest first. Listed explicitly so the same list runs from TypeScript (tests) and dist. */
export const migrations = [Foundation1763800000000];
