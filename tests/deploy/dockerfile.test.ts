// Static checks of the service image build (there is no Docker engine to build it here): the
// Dockerfile's stages, base images, user and command, and what .dockerignore sends as context.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { serviceNodeOptions } from '@toolplane/cli';
import { parseYaml, readRepoFile, repoRoot } from './lib.ts';

interface Instruction {
  op: string;
  args: string;
  line: number;
}

/** Dockerfile instructions: comments and blank lines dropped, `\` continuations joined. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let buffer = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (buffer === '' && (line === '' || line.startsWith('#'))) return;
    if (buffer !== '' && line.startsWith('#')) return;
    if (buffer === '') start = i + 1;
    if (line.endsWith('\\')) {
      buffer += `${line.slice(0, -1)} `;
      return;
    }
    buffer += line;
    const m = /^(\S+)\s*(.*)$/s.exec(buffer)!;
    out.push({ op: m[1]!.toUpperCase(), args: m[2]!.trim(), line: start });
    buffer = '';
  });
  return out;
}

interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

function stages(instructions: Instruction[]): { globalArgs: Map<string, string>; stages: Stage[] } {
  const globalArgs = new Map<string, string>();
  const result: Stage[] = [];
  for (const ins of instructions) {
    if (ins.op === 'FROM') {
      const m = /^(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$/i.exec(ins.args)!;
      result.push({ from: m[1]!, ...(m[2] ? { name: m[2] } : {}), instructions: [] });
    } else if (result.length === 0) {
      if (ins.op === 'ARG') {
        const [k, v] = ins.args.split('=') as [string, string | undefined];
        globalArgs.set(k, v ?? '');
      }
    } else {
      result.at(-1)!.instructions.push(ins);
    }
  }
  return { globalArgs, stages: result };
}

const substitute = (s: string, vars: Map<string, string>) =>
  s.replace(
    /\$\{(\w+)\}|\$(\w+)/g,
    (_, a: string | undefined, b: string | undefined) => vars.get((a ?? b)!) ?? `\${${a ?? b}}`,
  );

const dockerfile = parseDockerfile(readRepoFile('Dockerfile'));
const { globalArgs, stages: allStages } = stages(dockerfile);
const final = allStages.at(-1)!;
const services = ['edge', 'worker', 'control-plane'];

describe('Dockerfile', () => {
  it('pins every base image to the Node version of .nvmrc, by explicit tag, never latest', () => {
    const nvmrc = readRepoFile('.nvmrc').trim().replace(/^v/, '');
    expect(globalArgs.get('NODE_VERSION')).toBe(nvmrc);
    const names = new Set<string>();
    for (const s of allStages) {
      if (!names.has(s.from)) {
        // Not an earlier stage: an image, pinned.
        // Tag and digest: `node:<version>-bookworm-slim@sha256:<64 hex>` (the digest from the NODE_DIGEST arg).
        const image = substitute(s.from, globalArgs);
        expect(image).toMatch(/^[a-z0-9./-]+:[A-Za-z0-9._-]+@sha256:[a-f0-9]{64}$/);
        expect(image).not.toMatch(/:latest@/);
        expect(image.split('@')[0]).toBe(`node:${nvmrc}-bookworm-slim`);
      }
      if (s.name) names.add(s.name);
    }
    expect([...names]).toEqual(expect.arrayContaining(['pnpm', 'fetch', 'build', 'runtime']));
  });

  it('installs with the pinned pnpm from the frozen lockfile and builds with scripts/build-service.sh (the script the production-build test runs)', () => {
    const pnpm = allStages.find((s) => s.name === 'pnpm')!;
    const pkg = JSON.parse(readRepoFile('package.json')) as { toolchain: { pnpm: string } };
    const arg = pnpm.instructions.find((i) => i.op === 'ARG' && i.args.startsWith('PNPM_VERSION='));
    expect(arg?.args).toBe(`PNPM_VERSION=${pkg.toolchain.pnpm}`);
    const build = allStages.find((s) => s.name === 'build')!;
    const install = build.instructions.find((i) => i.op === 'RUN' && i.args.includes('pnpm install'))!;
    for (const flag of ['--offline', '--frozen-lockfile', '--filter "@toolplane/${SERVICE}..."'])
      expect(install.args).toContain(flag);
    const runs = build.instructions.filter((i) => i.op === 'RUN').map((i) => i.args);
    expect(runs.at(-1)).toBe('PNPM_STORE_DIR=/pnpm-store bash scripts/build-service.sh "${SERVICE}" /out');
    // The script: Prisma client, tsc of the closure, then a production-only `pnpm deploy` from the store (registry
    // metadata fetched only where the machine lacks it).
    const script = readRepoFile('scripts/build-service.sh');
    expect(script).toContain('run generate');
    expect(script).toContain('run build');
    expect(script).toMatch(/pnpm --filter "@toolplane\/\$\{service\}" --prod --prefer-offline .* deploy "\$\{out\}"/);
    expect(readRepoFile('tests/e2e/deploy-and-scale/production-build.test.ts')).toContain("'scripts/build-service.sh'");
  });

  it('builds a final image with node and the compiled closure only, run by a numeric non-root user', () => {
    expect(final.name).toBe('runtime');
    const users = final.instructions.filter((i) => i.op === 'USER');
    expect(users).toHaveLength(1);
    const [uid, gid] = users[0]!.args.split(':').map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    // USER is the last instruction that could change what runs as whom.
    expect(final.instructions.slice(final.instructions.indexOf(users[0]!) + 1).map((i) => i.op)).toEqual(['CMD']);
    for (const i of final.instructions.filter((x) => x.op === 'RUN')) {
      expect(i.args).not.toMatch(
        /\b(apt-get|apt|apk)\s+(install|add)\b|\b(npm|pnpm|yarn)\s+(install|add|ci)\b|\bcorepack\b(?!\s)/,
      );
    }
    // The package managers of the base image are removed; nothing from the build context is copied.
    expect(final.instructions.find((i) => i.op === 'RUN')?.args).toMatch(/rm -rf \/usr\/local\/lib\/node_modules/);
    expect(final.instructions.filter((i) => i.op === 'COPY').map((i) => i.args)).toEqual(['--from=build /out /app']);
  });

  it('labels the final image with its source, version and revision (OCI), from build args', () => {
    const labels = final.instructions
      .filter((i) => i.op === 'LABEL')
      .map((i) => i.args)
      .join(' ');
    const args = new Map(
      final.instructions
        .filter((i) => i.op === 'ARG')
        .map((i) => i.args.split('=') as [string, string | undefined])
        .map(([k, v]) => [k, v ?? ''] as const),
    );
    for (const [label, arg] of [
      ['source', 'SOURCE'],
      ['version', 'VERSION'],
      ['revision', 'REVISION'],
    ] as const) {
      expect(labels).toContain(`org.opencontainers.image.${label}="\${${arg}}"`);
      expect(args.has(arg)).toBe(true);
    }
    expect(args.get('SOURCE')).toMatch(/^https:\/\//);
  });

  it('starts each service from its compiled closure (dist/main.js), as the production-build test does', () => {
    const cmd = final.instructions.find((i) => i.op === 'CMD')!;
    expect(JSON.parse(cmd.args)).toEqual(['node', 'dist/main.js']);
    expect(final.instructions.find((i) => i.op === 'WORKDIR')?.args).toBe('/app');
    expect(final.instructions.some((i) => i.op === 'ENV' && i.args === 'NODE_ENV=production')).toBe(true);
    // The same Node options as a stack started from the sources (ADR 0031).
    expect(final.instructions.some((i) => i.op === 'ENV' && i.args === `NODE_OPTIONS=${serviceNodeOptions}`)).toBe(
      true,
    );
    for (const svc of services) {
      const pkg = JSON.parse(readRepoFile(`services/${svc}/package.json`)) as { files?: string[] };
      expect(pkg.files).toContain('dist');
      expect(existsSync(join(repoRoot, 'services', svc, 'src/main.ts'))).toBe(true);
    }
    expect(existsSync(join(repoRoot, 'services/control-plane/src/db/migrate-cli.ts'))).toBe(true);
    // The build refuses an unknown SERVICE.
    const check = allStages
      .find((s) => s.name === 'build')!
      .instructions.find((i) => i.op === 'RUN' && i.args.startsWith('case'))!;
    expect(check.args).toContain(services.join('|'));
  });
});

// ---- .dockerignore -----------------------------------------------------------------------------------

/** Docker's rule: the last pattern matching the path (or one of its parent directories) decides. */
function excluded(patterns: string[], path: string): boolean {
  const parts = path.split('/');
  const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
  let result = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const pattern = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(
      `^${pattern
        .split('**')
        .map((chunk) =>
          chunk
            .replace(/[.+^${}()|[\]\\]/g, '\\$&')
            .replace(/\*/g, '[^/]*')
            .replace(/\?/g, '[^/]'),
        )
        .join('.*')}$`,
    );
    if (prefixes.some((p) => re.test(p))) result = !negate;
  }
  return result;
}

describe('.dockerignore', () => {
  const patterns = readRepoFile('.dockerignore')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));

  it('sends every workspace manifest the frozen lockfile lists, and the sources of packages and services', () => {
    const lock = parseYaml(readRepoFile('pnpm-lock.yaml')) as { importers: Record<string, unknown> };
    const manifests = Object.keys(lock.importers).map((dir) => (dir === '.' ? 'package.json' : `${dir}/package.json`));
    expect(manifests.length).toBeGreaterThan(10);
    const needed = [
      ...manifests,
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      // Every patch pnpm-workspace.yaml names (applied by the frozen install).
      ...Object.values(
        (parseYaml(readRepoFile('pnpm-workspace.yaml')) as { patchedDependencies?: Record<string, string> })
          .patchedDependencies ?? {},
      ),
      'tsconfig.base.json',
      ...services.map((s) => `services/${s}/src/main.ts`),
      'services/control-plane/prisma/schema.prisma',
      'services/control-plane/prisma/migrations/migration_lock.toml',
      'packages/config/src/index.ts',
      'scripts/build-service.sh',
    ];
    expect(needed.filter((f) => excluded(patterns, f))).toEqual([]);
  });

  it('keeps installed, generated, local and secret files out of the context', () => {
    const never = [
      'node_modules/.pnpm/x/index.js',
      'services/edge/node_modules/zod/package.json',
      '.git/config',
      '.toolchain/node-24.21.0/bin/node',
      '.data/postgres/PG_VERSION',
      '.env',
      'services/worker/.env',
      'services/control-plane/src/generated/prisma/client.ts',
      'services/edge/dist/main.js',
      'keys/secrets-seal.key.pem',
      'services/edge/src/app.test.ts',
      'docs/operations.md',
      'k8s/base/kustomization.yaml',
      'tests/e2e/calls/walking-skeleton.test.ts',
    ];
    expect(never.filter((f) => !excluded(patterns, f))).toEqual([]);
  });
});
