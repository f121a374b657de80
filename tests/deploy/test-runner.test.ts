// The jest runner of the test command (scripts/run-tests.ts) fails a file that does not exit by
// itself once its tests have ended (an open handle), and counts a passing file's tests.
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { repoRoot } from './lib.ts';

const files: string[] = [];
afterAll(() => {
  for (const f of files) rmSync(join(repoRoot, f), { force: true });
});

function scratchTest(name: string, body: string): string {
  const path = `tests/deploy/zz-scratch-${process.pid}-${name}.test.ts`;
  files.push(path);
  writeFileSync(
    join(repoRoot, path),
    `import { expect, it } from '@jest/globals';\n\nit('${name}', () => {\n${body}\n  expect(1).toBe(1);\n});\n`,
  );
  return path;
}

/** The runner on one file, reusing this run's Redis, PostgreSQL and moto_server (TEST_* variables). */
function runner(file: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, ['--conditions=@toolplane/source', 'scripts/run-tests.ts', file], {
    cwd: repoRoot,
    encoding: 'utf8',
    env: { ...process.env, TEST_EXIT_GRACE_MS: '2000' },
    timeout: 120_000,
  });
  return { code: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('scripts/run-tests.ts', () => {
  it('passes a file that exits by itself and reports its count', () => {
    const r = runner(scratchTest('exits', ''));
    expect(r.output).toMatch(/\n1 passed, 0 failed\n/);
    expect(r.code).toBe(0);
  }, 120_000);

  it('fails a file whose tests pass but which leaves a handle open', () => {
    const file = scratchTest('hangs', '  setInterval(() => undefined, 1000);');
    const r = runner(file);
    expect(r.output).toContain(`${file}: jest did not exit 2 s after its tests ended (an open handle`);
    expect(r.output).toMatch(/\n1 passed, 1 failed\n/);
    expect(r.code).toBe(1);
  }, 120_000);
});
