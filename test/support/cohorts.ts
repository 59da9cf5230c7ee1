import { cohortOf } from '@app/resolver';

/** A device id whose cohort satisfies `accept`, e.g. `deviceInCohort((c) => c < 10)`. */
export function deviceInCohort(accept: (cohort: number) => boolean, prefix = 'dev'): string {
  for (let i = 0; ; i++) {
    const id = `${prefix}-${i}`;
    if (accept(cohortOf(id))) return id;
  }
}

/** `count` distinct device ids with cohorts satisfying `accept`. */
export function devicesInCohorts(count: number, accept: (cohort: number) => boolean, prefix = 'dev'): string[] {
  const ids: string[] = [];
  for (let i = 0; ids.length < count; i++) {
    const id = `${prefix}-${i}`;
    if (accept(cohortOf(id))) ids.push(id);
  }
  return ids;
}
