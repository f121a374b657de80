// The module-boundary check of the test command (scripts/check-boundaries.ts) really fails the build
// when a service other than the worker reads secrets: the script is run on small
// workspaces written for the test, one rule broken at a time.
import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from '@jest/globals';
import { runCheckScript, type WorkspaceFiles } from './lib.ts';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

type Files = WorkspaceFiles;

const manifest = (name: string, deps: string[] = []) =>
  JSON.stringify({ name, dependencies: Object.fromEntries(deps.map((d) => [d, 'workspace:*'])) });

/** A workspace that respects every rule: the secrets package, a worker reading, a control plane writing, an edge. */
const valid: Files = {
  'packages/secrets/package.json': manifest('@toolplane/secrets'),
  'packages/secrets/src/index.ts':
    'export class LocalSealedSecretsReader {}\nexport class LocalSealedSecretsWriter {}\nexport interface SecretsReader {}\n',
  'services/worker/package.json': manifest('@toolplane/worker', ['@toolplane/secrets']),
  'services/worker/src/app.ts':
    "import { LocalSealedSecretsReader } from '@toolplane/secrets';\nexport const r = LocalSealedSecretsReader;\n",
  'services/control-plane/package.json': manifest('@toolplane/control-plane', ['@toolplane/secrets']),
  'services/control-plane/src/app.ts':
    "import { LocalSealedSecretsWriter } from '@toolplane/secrets';\nexport const w = LocalSealedSecretsWriter;\n",
  'services/control-plane/src/secrets.test.ts':
    "import { LocalSealedSecretsReader } from '@toolplane/secrets';\nexport const proof = LocalSealedSecretsReader;\n",
  'services/edge/package.json': manifest('@toolplane/edge'),
  'services/edge/src/app.ts': 'export const edge = 1;\n',
};

const check = (files: Files) => runCheckScript('check-boundaries.ts', files, roots);

describe('scripts/check-boundaries.ts (run by the test command)', () => {
  it('passes a workspace where only the worker reads secrets (tests may open the store to prove what was written)', () => {
    expect(check(valid)).toEqual({ code: 0, output: 'module boundaries: ok\n' });
  });

  it('fails when the control plane names a secrets reader', () => {
    const r = check({
      ...valid,
      'services/control-plane/src/peek.ts':
        "import { LocalSealedSecretsReader } from '@toolplane/secrets';\nexport const peek = LocalSealedSecretsReader;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      'services/control-plane/src/peek.ts names a secrets reader: only the worker may read secrets',
    );
  });

  it('fails when a package other than @toolplane/secrets names the reader interface', () => {
    const r = check({
      ...valid,
      'packages/queue/package.json': manifest('@toolplane/queue', ['@toolplane/secrets']),
      'packages/queue/src/index.ts':
        "import type { SecretsReader } from '@toolplane/secrets';\nexport type R = SecretsReader;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('packages/queue/src/index.ts names a secrets reader');
  });

  it('fails when the edge depends on or imports the secrets package at all', () => {
    const r = check({
      ...valid,
      'services/edge/package.json': manifest('@toolplane/edge', ['@toolplane/secrets']),
      // Even the write side: the edge never touches secrets.
      'services/edge/src/app.ts':
        "import { LocalSealedSecretsWriter } from '@toolplane/secrets';\nexport const edge = LocalSealedSecretsWriter;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('services/edge/package.json depends on @toolplane/secrets');
    expect(r.output).toContain('services/edge/src/app.ts imports @toolplane/secrets');
  });

  it('fails when a service reaches another package by a relative path (not in its image closure) instead of a declared dependency', () => {
    const r = check({
      ...valid,
      'packages/workflow/package.json': manifest('@toolplane/workflow'),
      'packages/workflow/src/index.ts': 'export const compile = 1;\n',
      'services/control-plane/src/deploy.ts':
        "import { compile } from '../../../packages/workflow/src/index.ts';\nexport const c = compile;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain(
      'services/control-plane/src/deploy.ts imports ../../../packages/workflow/src/index.ts: outside services/control-plane',
    );
  });

  describe("the control plane's resources read one another through registries", () => {
    const cp = 'services/control-plane/src/resources';
    /** A kind declared in its resource against the shared machinery, listed in the registry the machinery reads. */
    const resources: Files = {
      ...valid,
      [`${cp}/workspace-files/kind.ts`]: 'export interface Kind {\n  kind: string;\n}\n',
      [`${cp}/servers/schemas.ts`]: 'export type CreateServer = { name: string };\n',
      [`${cp}/servers/workspace-file.ts`]:
        "import type { Kind } from '../workspace-files/kind.ts';\nexport const serverFiles: Kind = { kind: 'server' };\n",
      [`${cp}/workspace-file-kinds.ts`]:
        "import { serverFiles } from './servers/workspace-file.ts';\nexport const kinds = [serverFiles];\n",
      [`${cp}/workspace-files/specs.ts`]:
        "import { kinds } from '../workspace-file-kinds.ts';\nexport const all = kinds;\n",
      // Tests import what they exercise.
      [`${cp}/workspace-files/specs.test.ts`]:
        "import { serverFiles } from '../servers/workspace-file.ts';\nexport const proof = serverFiles;\n",
    };

    it('passes a resource importing the shared machinery and the machinery reading the registry', () => {
      expect(check(resources)).toEqual({ code: 0, output: 'module boundaries: ok\n' });
    });

    it('fails on every upward arrow: a value, a type-only and a dynamic import of a resource by shared code', () => {
      const r = check({
        ...resources,
        [`${cp}/workspace-files/export.ts`]:
          "import { serverFiles } from '../servers/workspace-file.ts';\nexport const s = serverFiles;\n",
        [`${cp}/governing.ts`]:
          "import type { CreateServer } from './servers/schemas.ts';\nexport type F = keyof CreateServer;\n",
        [`${cp}/workspace-files/live.ts`]: "export const later = () => import('../servers/schemas.ts');\n",
      });
      expect(r.code).toBe(1);
      const arrows = r.output.split('\n').filter((l) => l.includes('an upward arrow between'));
      expect(arrows.map((l) => l.replace(/: an upward arrow.*/, '').trim()).sort()).toEqual([
        `- ${cp}/governing.ts -> servers/schemas.ts`,
        `- ${cp}/workspace-files/export.ts -> servers/workspace-file.ts`,
        `- ${cp}/workspace-files/live.ts -> servers/schemas.ts`,
      ]);
    });

    it('fails on a module of the resources in no tier', () => {
      const r = check({
        ...resources,
        [`${cp}/stray.ts`]: "import { all } from './workspace-files/specs.ts';\nexport const s = all;\n",
      });
      expect(r.code).not.toBe(0);
      expect(r.output).toContain(`${cp}/stray.ts: not in any tier of the resources`);
    });
  });

  it('fails on a bare side-effect import of the secrets package in the edge (no binding, still loaded)', () => {
    const r = check({
      ...valid,
      'services/edge/src/app.ts':
        "import '@toolplane/secrets';\nimport'@toolplane/secrets/local';\nexport const edge = 1;\n",
    });
    expect(r.code).toBe(1);
    expect(r.output).toContain('services/edge/src/app.ts imports @toolplane/secrets:');
    expect(r.output).toContain('services/edge/src/app.ts imports @toolplane/secrets/local:');
  });
});
