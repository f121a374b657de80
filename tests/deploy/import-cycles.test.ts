// The import-cycle check of the test command (scripts/check-import-cycles.ts) really fails the build on
// a cycle among package and service sources: the script is run on small workspaces written for the test.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from '@jest/globals';
import { runCheckScript, type WorkspaceFiles } from './lib.ts';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

type Files = WorkspaceFiles;

const manifest = (name: string) =>
  JSON.stringify({ name, exports: { '.': { '@toolplane/source': './src/index.ts', default: './dist/index.js' } } });

/** No cycle: index → a → shared, index → b → shared; a service uses the package by name. */
const valid: Files = {
  'packages/lib/package.json': manifest('@toolplane/lib'),
  'packages/lib/src/index.ts': "export * from './a.ts';\nexport * from './b.ts';\n",
  'packages/lib/src/a.ts': "import { shared } from './shared.ts';\nexport const a = shared;\n",
  'packages/lib/src/b.ts': "import type { Shared } from './shared.ts';\nexport const b: Shared = 1;\n",
  'packages/lib/src/shared.ts': 'export const shared = 1;\nexport type Shared = number;\n',
  'services/worker/package.json': manifest('@toolplane/worker'),
  'services/worker/src/index.ts': "import { a } from '@toolplane/lib';\nexport const w = a;\n",
};

const check = (files: Files) => runCheckScript('check-import-cycles.ts', files, roots);

describe('scripts/check-import-cycles.ts (run by the test command)', () => {
  it('passes a workspace without cycles', () => {
    expect(check(valid)).toEqual({ code: 0, output: 'import cycles: none\n' });
  });

  it('fails on a cycle of relative imports inside a package, type-only imports included', () => {
    const r = check({
      ...valid,
      'packages/lib/src/shared.ts':
        "import type { B } from './b.ts';\nexport const shared = 1;\nexport type Shared = number;\nexport type S = B;\n",
      'packages/lib/src/b.ts':
        "import type { Shared } from './shared.ts';\nexport const b: Shared = 1;\nexport type B = Shared;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('packages/lib/src/b.ts → packages/lib/src/shared.ts → packages/lib/src/b.ts');
  });

  it('fails on a cycle through workspace packages imported by name', () => {
    const r = check({
      ...valid,
      'packages/other/package.json': manifest('@toolplane/other'),
      'packages/other/src/index.ts': "import { a } from '@toolplane/lib';\nexport const o = a;\n",
      'packages/lib/src/shared.ts':
        "import { o } from '@toolplane/other';\nexport const shared = o;\nexport type Shared = number;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('packages/other/src/index.ts');
    expect(r.output).toContain('packages/lib/src/shared.ts');
  });

  it('fails on a cycle between the control plane modules (servers and deployments once imported each other)', () => {
    const r = check({
      ...valid,
      'services/control-plane/package.json': manifest('@toolplane/control-plane'),
      'services/control-plane/src/modules/servers.ts': "import { d } from './deployments.ts';\nexport const s = d;\n",
      'services/control-plane/src/modules/deployments.ts':
        "import { s } from './servers.ts';\nexport const d = () => s;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/services\/control-plane\/src\/modules\/(servers|deployments)\.ts → /);
  });
});
