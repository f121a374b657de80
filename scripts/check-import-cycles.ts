// Fails on any import cycle among the sources of packages/*/src and services/*/src: relative imports,
// and workspace packages imported by name (`@toolplane/x` → its `@toolplane/source` entry). Type-only
// imports count too (a cycle of types is still two modules that cannot be understood one without the
// other). Run by the test command next to the boundary check; exits non-zero listing every cycle.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name === 'generated' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* files(p);
    else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(name) && !name.endsWith('.d.ts')) yield p;
  }
}

/** `@toolplane/x` (and its subpaths) → the source file it resolves to under `--conditions=@toolplane/source`. */
const packageEntries = new Map<string, string>();
const sources: string[] = [];
for (const top of ['packages', 'services']) {
  for (const pkg of readdirSync(join(root, top))) {
    const dir = join(root, top, pkg);
    if (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src'))) continue;
    const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      name: string;
      exports?: Record<string, unknown>;
    };
    for (const [subpath, target] of Object.entries(manifest.exports ?? {})) {
      const source =
        typeof target === 'object' && target !== null
          ? (target as Record<string, unknown>)['@toolplane/source']
          : undefined;
      if (typeof source === 'string') packageEntries.set(manifest.name + subpath.slice(1), resolve(dir, source));
    }
    sources.push(...files(join(dir, 'src')));
  }
}

function resolveImport(from: string, spec: string): string | undefined {
  if (spec.startsWith('.')) {
    const p = resolve(dirname(from), spec);
    return existsSync(p) && statSync(p).isFile() ? p : undefined;
  }
  return packageEntries.get(spec);
}

const graph = new Map<string, string[]>();
for (const file of sources) {
  const text = readFileSync(file, 'utf8');
  const targets = new Set<string>();
  // `… from 'x'` (imports and re-exports), `import('x')`, `require('x')` and bare side-effect imports.
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\bimport\s*|\brequire\s*\(\s*)['"]([^'"]+)['"]/g)) {
    const target = resolveImport(file, m[1]!);
    if (target && target !== file) targets.add(target);
  }
  graph.set(
    file,
    [...targets].filter((t) => graph.has(t) || sources.includes(t)),
  );
}

// Tarjan's strongly connected components: every component of more than one file holds a cycle.
let index = 0;
const indices = new Map<string, number>();
const lowlinks = new Map<string, number>();
const stack: string[] = [];
const onStack = new Set<string>();
const components: string[][] = [];
function connect(v: string): void {
  indices.set(v, index);
  lowlinks.set(v, index);
  index++;
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!indices.has(w)) {
      connect(w);
      lowlinks.set(v, Math.min(lowlinks.get(v)!, lowlinks.get(w)!));
    } else if (onStack.has(w)) lowlinks.set(v, Math.min(lowlinks.get(v)!, indices.get(w)!));
  }
  if (lowlinks.get(v) === indices.get(v)) {
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1) components.push(component);
  }
}
for (const v of graph.keys()) if (!indices.has(v)) connect(v);

/** One cycle through the component, from its first file (breadth-first: a shortest one). */
function cycleIn(component: string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0]!;
  const previous = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!members.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(previous.get(path[0]!)!);
        return [...path, start];
      }
      if (!previous.has(w)) {
        previous.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start];
}

const rel = (f: string) => relative(root, f);
const problems: string[] = [];
for (const component of components) {
  const names = component.map(rel);
  const cycle = cycleIn(component);
  const others = names.filter((n) => !cycle.map(rel).includes(n));
  const line = `${cycle.map(rel).join(' → ')}${others.length > 0 ? ` (and, in the same knot, ${others.join(', ')})` : ''}`;
  problems.push(line);
}

if (problems.length > 0) {
  console.error(
    `import cycles (${problems.length}); move what the modules share into a module they both import:\n${problems
      .map((p) => `  - ${p}`)
      .join('\n')}`,
  );
  process.exit(1);
}
console.log('import cycles: none');
