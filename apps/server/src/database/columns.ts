import type { ValueTransformer } from 'typeorm';

/** bigint columns arrive as strings from node-postgres; sizes and counters fit in a JS number. */
export const bigintAsNumber: ValueTransformer = {
  to: (value: number | null | undefined) => value,
  from: (value: string | number | null) => (value === null ? null : Number(value)),
};
