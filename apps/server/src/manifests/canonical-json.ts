/** RFC 8785 (JSON Canonicalization Scheme) serialisation: the bytes a manifest signature covers. */
export type Canonicalize = (value: unknown) => string | undefined;

/**
 * `canonicalize` is ESM-only and exports only an `import` condition. The built appliance could use
 * a plain `await import()` (module node20 keeps it), but jest's SWC transform rewrites `import()`
 * into `require()`, which cannot resolve the package; a Function-built `import()` escapes both
 * compilers and is a real dynamic import everywhere.
 */
const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<{ default: Canonicalize }>;

let loaded: Promise<Canonicalize> | undefined;

/** The `canonicalize` package's function, loaded once. */
export function loadCanonicalize(): Promise<Canonicalize> {
  loaded ??= importEsm('canonicalize').then((module) => module.default);
  return loaded;
}
