// One jest run for the whole monorepo: unit (*.spec.ts), integration (*.int-spec.ts) and
// end-to-end (*.e2e-spec.ts) tests. SWC strips types (tsc --noEmit type-checks separately).
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
  testRegex: '\\.(spec|int-spec|e2e-spec)\\.ts$',
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      {
        jsc: {
          parser: { syntax: 'typescript', decorators: true },
          transform: { legacyDecorator: true, decoratorMetadata: true },
          target: 'es2023',
          keepClassNames: true,
        },
        module: { type: 'commonjs' },
        sourceMaps: 'inline',
      },
    ],
  },
  moduleNameMapper: {
    '^@app/resolver$': '<rootDir>/libs/resolver/src',
    '^@app/resolver/(.*)$': '<rootDir>/libs/resolver/src/$1',
    '^@app/manifest$': '<rootDir>/libs/manifest/src',
    '^@app/manifest/(.*)$': '<rootDir>/libs/manifest/src/$1',
  },
  globalSetup: '<rootDir>/test/global-setup.js',
  testTimeout: 60_000,
  maxWorkers: 2,
};
