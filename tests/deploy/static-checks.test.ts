// The static checks of the test command (Prettier, ESLint with type information, knip) really fail
// it: each is run with the repository's own configuration on a deliberately broken scratch change,
// which is removed afterwards whatever happens.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
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
  it('runs Prettier, ESLint, knip and the duplicate check through turbo when it runs the whole suite', () => {
    const script = readFileSync(join(repoRoot, 'scripts/test.sh'), 'utf8');
    expect(script).toContain('bash scripts/check.sh\n');
    const check = readFileSync(join(repoRoot, 'scripts/check.sh'), 'utf8');
    for (const task of staticTasks) expect(check).toContain(task);
    const manifest = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    };
    expect(manifest.scripts).toMatchObject({
      'format:check': 'prettier --check --log-level=warn .',
      eslint: 'eslint --max-warnings=0 .',
      knip: 'knip --no-progress',
      boundaries: 'node scripts/check-boundaries.ts',
      cycles: 'node scripts/check-import-cycles.ts',
      duplicates: 'node scripts/check-duplicates.ts',
    });
    expect(manifest.scripts.typecheck).toMatch(/^tsc -p tsconfig\.json --incremental /);
  });
});

// turbo (ADR 0046) caches each static check by its inputs. Each case runs against a copy of the checkout (its
// tracked and untracked files, a git repository of its own, a cache of its own), never the checkout itself.
const staticTasks = [
  '@toolplane/control-plane#generate',
  '@toolplane/dashboard#build',
  '//#typecheck',
  '//#boundaries',
  '//#cycles',
  '//#format:check',
  '//#eslint',
  '//#knip',
  '//#duplicates',
] as const;
type StaticTask = (typeof staticTasks)[number];

function copyCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'toolplane-turbo-'));
  undo.push(() => rmSync(dir, { recursive: true, force: true }));
  const listed = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], {
    cwd: repoRoot,
    encoding: 'utf8',
  });
  for (const file of new Set(listed.split('\0'))) {
    if (file === '' || file === '.toolchain' || !existsSync(join(repoRoot, file))) continue;
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    cpSync(join(repoRoot, file), join(dir, file));
  }
  execFileSync('git', ['init', '-q'], { cwd: dir });
  execFileSync('git', ['add', '-A'], { cwd: dir });
  return dir;
}

function turbo(dir: string, args: string[]): { code: number | null; output: string; stdout: string } {
  const r = spawnSync(join(repoRoot, 'node_modules/.bin/turbo'), ['run', ...args, '--no-update-notifier'], {
    cwd: dir,
    encoding: 'utf8',
    env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
    // A dry run's plan lists every input file of every task: over spawnSync's default 1 MiB.
    maxBuffer: 64 * 1024 * 1024,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

function taskHashes(dir: string): Record<StaticTask, string> {
  const r = turbo(dir, [...staticTasks, '--dry=json']);
  expect(r.code).toBe(0);
  const plan = JSON.parse(r.stdout) as { tasks: { taskId: string; hash: string }[] };
  return Object.fromEntries(plan.tasks.map((t) => [t.taskId, t.hash])) as Record<StaticTask, string>;
}

const code: StaticTask[] = ['//#typecheck', '//#boundaries', '//#cycles', '//#eslint', '//#format:check', '//#knip'];
const codeAndClones: StaticTask[] = [...code, '//#duplicates'];
const changes: { path: string; reruns: StaticTask[] }[] = [
  { path: 'services/edge/src/env.ts', reruns: codeAndClones },
  { path: 'packages/contracts/src/index.ts', reruns: [...codeAndClones, '@toolplane/dashboard#build'] },
  { path: 'pnpm-lock.yaml', reruns: [...staticTasks] },
  { path: 'eslint.config.js', reruns: code },
  { path: 'tsconfig.base.json', reruns: code },
  {
    path: 'services/control-plane/prisma/schema.prisma',
    reruns: [...codeAndClones, '@toolplane/control-plane#generate'],
  },
  { path: 'packages/dashboard/src/main.tsx', reruns: [...codeAndClones, '@toolplane/dashboard#build'] },
  { path: 'docs/operations.md', reruns: ['//#format:check', '//#knip'] },
  { path: '.prettierrc.json', reruns: code },
  { path: 'knip.jsonc', reruns: code },
  // The duplicate check reads its baseline, its script and the packages' sources, tests aside.
  { path: 'scripts/duplicates-baseline.json', reruns: [...code, '//#duplicates'] },
  { path: 'scripts/check-duplicates.ts', reruns: codeAndClones },
  { path: 'services/edge/src/governance/access.test.ts', reruns: code },
  { path: '.gitignore', reruns: [...code, '//#duplicates'] },
];

describe('turbo', () => {
  it('runs again exactly the checks whose inputs changed (a source file, a config, the lockfile, a doc)', () => {
    const dir = copyCheckout();
    const before = taskHashes(dir);
    expect(Object.keys(before).sort()).toEqual([...staticTasks].sort());
    for (const { path, reruns } of changes) {
      const original = readFileSync(join(dir, path), 'utf8');
      // A trailing comment or blank line: the same meaning, other bytes.
      writeFileSync(join(dir, path), path.endsWith('.json') ? `${original}\n` : `${original}\n# \n`);
      const after = taskHashes(dir);
      writeFileSync(join(dir, path), original);
      const changed = staticTasks.filter((t) => after[t] !== before[t]);
      expect({ path, changed: changed.sort() }).toEqual({ path, changed: [...reruns].sort() });
    }
    expect(taskHashes(dir)).toEqual(before);
  });

  it('never caches a failure: a failed check fails again on the same tree, a passed one is replayed', () => {
    const dir = copyCheckout();
    writeFileSync(join(dir, 'packages/contracts/src/zz-scratch.ts'), "import 'node:fs';\n");
    for (let i = 0; i < 2; i++) {
      const failed = turbo(dir, ['//#boundaries']);
      expect(failed.code).not.toBe(0);
      expect(failed.output).toContain('module boundary violations');
      expect(failed.output).not.toContain('cache hit');
    }
    rmSync(join(dir, 'packages/contracts/src/zz-scratch.ts'));
    const passed = turbo(dir, ['//#boundaries']);
    expect(passed.code).toBe(0);
    expect(passed.output).toContain('cache miss, executing');
    const replayed = turbo(dir, ['//#boundaries']);
    expect(replayed.code).toBe(0);
    expect(replayed.output).toContain('cache hit, replaying logs');
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

describe('the duplicate-code check (scripts/check-duplicates.ts, ADR 0093)', () => {
  function duplicates(args: string[] = []): { code: number | null; output: string } {
    const r = spawnSync(process.execPath, [join(repoRoot, 'scripts/check-duplicates.ts'), ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    return { code: r.status, output: `${r.stdout}${r.stderr}` };
  }

  it('passes the repository against its committed baseline', () => {
    const r = duplicates();
    expect(r.output).toMatch(/^duplicates: \d+ pairs \(.*services\/control-plane \d+/m);
    expect(r.output).not.toContain('above its baseline');
    expect(r.code).toBe(0);
  });

  it('fails when a folder gains a pair, printing the new pair', () => {
    // A copy of a module of packages/config: its lines stand twice in that folder.
    const source = readFileSync(join(repoRoot, 'packages/config/src/index.ts'), 'utf8');
    const copy = scratch(`packages/config/src/${tag}-copy.ts`, source);
    const r = duplicates();
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/^packages\/config: \d+ duplicate pairs, above its baseline of \d+/m);
    expect(r.output).toContain(`src/index.ts ~ src/${tag}-copy.ts`);
    expect(r.output).toMatch(new RegExp(`packages/config/src/index\\.ts:\\d+-\\d+ ~ ${copy}:\\d+-\\d+`));
    expect(r.output).not.toMatch(/^services\//m);
  });

  it('asks for the baseline to be lowered when a folder loses pairs, and --update writes the figures', () => {
    const dir = mkdtempSync(join(tmpdir(), 'toolplane-duplicates-'));
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    const baseline = join(dir, 'baseline.json');
    expect(duplicates(['--update', `--baseline=${baseline}`]).code).toBe(0);
    const written = JSON.parse(readFileSync(baseline, 'utf8')) as {
      folders: Record<string, { pairs: number; files: Record<string, number> }>;
    };
    const edge = written.folders['services/edge'];
    expect(edge?.pairs).toBeGreaterThan(0);
    expect(Object.values(edge?.files ?? {}).reduce((a, b) => a + b, 0)).toBe(edge?.pairs);
    expect(duplicates([`--baseline=${baseline}`])).toEqual({ code: 0, output: expect.not.stringMatching(/baseline/) });

    written.folders['services/edge'] = { pairs: (edge?.pairs ?? 0) + 2, files: edge?.files ?? {} };
    writeFileSync(baseline, JSON.stringify(written));
    const r = duplicates([`--baseline=${baseline}`]);
    expect(r.code).toBe(0);
    expect(r.output).toContain(
      `services/edge: ${edge?.pairs} duplicate pairs, below its baseline of ${(edge?.pairs ?? 0) + 2}: lower it`,
    );
  });
});
