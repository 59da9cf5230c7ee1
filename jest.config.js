// One jest run for the whole monorepo, in two tiers that `npm test` runs together:
// - unit: *.spec.ts, pure tests that need no PostgreSQL, Redis or server (`npm run test:unit`);
// - integration: *.int-spec.ts and *.e2e-spec.ts, against real services (checked first by global-setup).
// SWC strips types (tsc --noEmit type-checks separately).
const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/libs', '<rootDir>/test'],
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
  // Keep in step with "paths" in tsconfig.json.
  moduleNameMapper: {
    '^@app/resolver$': '<rootDir>/libs/resolver/src',
    '^@app/resolver/(.*)$': '<rootDir>/libs/resolver/src/$1',
    '^@app/manifest$': '<rootDir>/libs/manifest/src',
    '^@app/manifest/(.*)$': '<rootDir>/libs/manifest/src/$1',
    '^@test/support/(.*)$': '<rootDir>/test/support/$1',
    '^@peer-agent/test-support/(.*)$': '<rootDir>/apps/peer-agent/test-support/$1',
  },
};

/** @type {import('jest').Config} */
module.exports = {
  maxWorkers: 2,
  // Jest reads the timeout from the top level only, not from a project.
  testTimeout: 60_000,
  projects: [
    { ...shared, displayName: 'unit', testRegex: '\\.spec\\.ts$' },
    { ...shared, displayName: 'integration', testRegex: '\\.(int-spec|e2e-spec)\\.ts$', globalSetup: '<rootDir>/test/global-setup.js' },
  ],
};
