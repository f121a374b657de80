// The static checks of the test command (Prettier, ESLint with type information, knip) really fail
// it: each is run with the repository's own configuration on a deliberately broken scratch change,
// which is removed afterwards whatever happens.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { repoRoot } from './lib.ts';

const tag = `zz-scratch-${process.pid}`;
const undo: (() => void)[] = [];
afterEach(() => {
  for (const u of undo.splice(0).reverse()) u();
});

/** Writes a file for the duration of one test (restoring what was there before). */
function scratch(path: string, text: string): string {
  const abs = join(repoRoot, path);
  let before: string | undefined;
  try {
    before = readFileSync(abs, 'utf8');
  } catch {
    before = undefined;
  }
  writeFileSync(abs, text);
  undo.push(() => (before === undefined ? rmSync(abs, { force: true }) : writeFileSync(abs, before)));
  return path;
}

function run(bin: string, args: string[]): { code: number | null; output: string } {
  const r = spawnSync(join(repoRoot, 'node_modules/.bin', bin), args, { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('the test command runs the static checks', () => {
  it('runs Prettier, ESLint and knip when it runs the whole suite', () => {
    const script = readFileSync(join(repoRoot, 'scripts/test.sh'), 'utf8');
    expect(script).toContain('node_modules/.bin/prettier --check --log-level=warn .');
    expect(script).toContain('node_modules/.bin/eslint --max-warnings=0 .');
    expect(script).toContain('node_modules/.bin/knip --no-progress');
  });
});

describe('Prettier', () => {
  it('passes a formatted file and fails on a formatting difference', () => {
    const good = scratch(`scripts/${tag}-good.ts`, "export const formatted = { a: 1, b: 'two' };\n");
    expect(run('prettier', ['--check', good]).code).toBe(0);
    const bad = scratch(`scripts/${tag}-bad.ts`, 'export const   unformatted = {a:1,b:"two"}\n');
    const r = run('prettier', ['--check', bad]);
    expect(r.code).toBe(1);
    expect(r.output).toContain(bad);
  });
});

describe('ESLint (typescript-eslint, type-aware)', () => {
  it('fails on a floating promise and on a promise passed where a void callback is expected', () => {
    const file = scratch(
      `scripts/${tag}-lint.ts`,
      [
        'async function save(): Promise<number> {',
        '  return 1;',
        '}',
        'export function floating(): void {',
        '  save();',
        '}',
        'export function misused(): void {',
        '  [1, 2].forEach(async () => {',
        '    await save();',
        '  });',
        '  setTimeout(save, 1);',
        '  if (save()) floating();',
        '}',
        '',
      ].join('\n'),
    );
    const r = run('eslint', ['--max-warnings=0', file]);
    expect(r.code).toBe(1);
    expect(r.output).toContain('@typescript-eslint/no-floating-promises');
    expect(r.output).toContain('@typescript-eslint/no-misused-promises');
  });

  it('passes the same code with the promises handled', () => {
    const file = scratch(
      `scripts/${tag}-lint-ok.ts`,
      [
        'async function save(): Promise<number> {',
        '  return 1;',
        '}',
        'export async function handled(): Promise<void> {',
        '  await save();',
        '  void save().catch(() => undefined);',
        '}',
        '',
      ].join('\n'),
    );
    expect(run('eslint', ['--max-warnings=0', file])).toEqual({ code: 0, output: '' });
  });
});

describe('knip', () => {
  it('passes the repository as it is', () => {
    const r = run('knip', ['--no-progress', '--no-config-hints']);
    expect(r.output).toBe('');
    expect(r.code).toBe(0);
  });

  it('fails on an unused file, an unused export and an unused dependency', () => {
    // scripts/*.ts are entry points: an export there that nothing imports is dead.
    scratch(`scripts/${tag}-entry.ts`, `export const ${tag.replace(/-/g, '_')}_unused = 1;\n`);
    // Not an entry and imported by nothing.
    scratch(`packages/config/src/${tag}-orphan.ts`, 'export const orphan = 1;\n');
    const manifestPath = 'bench/package.json';
    const manifest = JSON.parse(readFileSync(join(repoRoot, manifestPath), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    manifest.dependencies['is-number'] = '7.0.0';
    scratch(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

    const r = run('knip', ['--no-progress', '--no-config-hints']);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/Unused files[\s\S]*packages\/config\/src\/zz-scratch-\d+-orphan\.ts/);
    expect(r.output).toMatch(/Unused exports[\s\S]*zz_scratch_\d+_unused\s+scripts\/zz-scratch-\d+-entry\.ts/);
    expect(r.output).toMatch(/Unused dependencies[\s\S]*is-number\s+bench\/package\.json/);
  });
});
