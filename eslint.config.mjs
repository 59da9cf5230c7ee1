// Lint with type information: the rules that catch real bugs in async Node code (floating
// promises, promises passed where callbacks are expected, non-exhaustive switches), and the rules
// that keep the layers apart (no typeorm outside repositories, no import cycles).
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const TYPEORM_OUTSIDE_REPOSITORIES =
  'typeorm belongs to repositories (*.repository.ts), entities (*.entity.ts) and apps/server/src/database: services speak the domain, and tests reach the database through test/support/database.ts';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'data/**', 'deploy/**', '**/*.js', '**/*.mjs', '**/*.cjs'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // Decorated constructor parameters must stay value imports: Nest reads their types at run time.
    files: ['apps/server/src/**/*.ts'],
    rules: { '@typescript-eslint/consistent-type-imports': 'off' },
  },
  {
    // A feature folder that imports another that imports it back is one feature in two folders.
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [createTypeScriptImportResolver({ project: `${import.meta.dirname}/tsconfig.json` })],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['apps/server/src/**/*.ts'],
    ignores: ['**/*.entity.ts', '**/*.repository.ts', 'apps/server/src/database/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: [{ name: 'typeorm', message: TYPEORM_OUTSIDE_REPOSITORIES }], patterns: [{ group: ['typeorm/*'], message: TYPEORM_OUTSIDE_REPOSITORIES }] },
      ],
    },
  },
  {
    files: ['libs/resolver/**/*.ts', 'libs/manifest/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@nestjs/*', 'typeorm', 'pg', 'ioredis', 'bullmq', 'aedes', 'minio', 'libp2p', '@libp2p/*'],
              message: 'libs/resolver and libs/manifest are pure: no framework and no I/O',
            },
            { group: ['node:fs*', 'node:net', 'node:http*', 'fs', 'net', 'http', 'https'], message: 'libs/resolver and libs/manifest do no I/O' },
          ],
        },
      ],
    },
  },
);
