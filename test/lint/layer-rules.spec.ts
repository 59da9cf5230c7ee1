import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const repoRoot = join(__dirname, '..', '..');

interface LintCase {
  path: string;
  code: string;
}

interface LintAnswer {
  messages: { ruleId: string | null; message: string }[];
  /** The severity eslint.config.mjs gives import-x/no-cycle for this path. */
  noCycle: unknown;
}

/**
 * Lints each case's code as if it were the file at its path, with the typeorm rule that
 * eslint.config.mjs sets for that path. Run in a child Node because ESLint loads its config as an
 * ES module; without type information, which this rule does not need (typed linting of a file
 * that is not on disk would build a whole TypeScript program first).
 */
function lintAs(cases: LintCase[]): LintAnswer[] {
  const script = `
    import { ESLint, Linter } from 'eslint';
    const cases = JSON.parse(await new Response(process.stdin).text());
    const eslint = new ESLint({ cwd: process.cwd() });
    const linter = new Linter();
    const answers = [];
    for (const { path, code } of cases) {
      const config = await eslint.calculateConfigForFile(path);
      const rules = { 'no-restricted-imports': config.rules['no-restricted-imports'] ?? 'off' };
      const messages = linter.verify(code, [{ files: ['**/*.ts'], languageOptions: { parser: config.languageOptions.parser }, rules }], path);
      answers.push({ messages: messages.map(({ ruleId, message }) => ({ ruleId, message })), noCycle: config.rules['import-x/no-cycle']?.[0] });
    }
    process.stdout.write(JSON.stringify(answers));
  `;
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: repoRoot, input: JSON.stringify(cases), encoding: 'utf8' });
  return JSON.parse(output) as LintAnswer[];
}

describe('lint rules that keep the layers apart', () => {
  const importTypeorm = "import { DataSource, type EntityManager } from 'typeorm';\nexport const used: [typeof DataSource, EntityManager?] = [DataSource];\n";
  const paths = {
    service: 'apps/server/src/widgets/widgets.service.ts',
    controller: 'apps/server/src/widgets/widgets.controller.ts',
    test: 'apps/server/src/widgets/widgets.e2e-spec.ts',
    'typeorm/* import': 'apps/server/src/widgets/widget-events.ts',
    repository: 'apps/server/src/widgets/widget.repository.ts',
    entity: 'apps/server/src/widgets/widget.entity.ts',
    'database folder': 'apps/server/src/database/widget-columns.ts',
  };
  let answers: Record<keyof typeof paths, LintAnswer>;

  beforeAll(() => {
    const names = Object.keys(paths) as (keyof typeof paths)[];
    const linted = lintAs(
      names.map((name) => ({
        path: paths[name],
        code: name === 'typeorm/* import' ? "import { In } from 'typeorm/find-options/operator/In';\nexport const used = In;\n" : importTypeorm,
      })),
    );
    answers = Object.fromEntries(names.map((name, index) => [name, linted[index]])) as typeof answers;
  });

  it.each(['service', 'controller', 'test', 'typeorm/* import'] as const)('fails a file in apps/server/src that imports typeorm: %s', (name) => {
    expect(answers[name].messages).toEqual([{ ruleId: 'no-restricted-imports', message: expect.stringContaining('typeorm belongs to repositories') }]);
  });

  it.each(['repository', 'entity', 'database folder'] as const)('lets the data layer import typeorm: %s', (name) => {
    expect(answers[name].messages).toEqual([]);
  });

  it('forbids import cycles everywhere in apps/server/src', () => {
    for (const answer of Object.values(answers)) expect(answer.noCycle).toBe(2);
  });
});
