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
