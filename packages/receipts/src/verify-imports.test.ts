import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** Every module the verifier loads, following its relative imports, with what each imports from outside. */
function closure(entry: string): { files: string[]; external: string[] } {
  const files: string[] = [];
  const external = new Set<string>();
  const visit = (file: string) => {
    if (files.includes(file)) return;
    files.push(file);
    const text = readFileSync(join(here, file), 'utf8');
    for (const m of text.matchAll(/(?:import|export)[^'"]*?from\s+'([^']+)'|import\('([^']+)'\)/g)) {
      const spec = (m[1] ?? m[2])!;
      if (spec.startsWith('./')) visit(spec.slice(2));
      else external.add(spec);
    }
  };
  visit(entry);
  return { files, external: [...external].sort() };
}

describe('the offline verifier', () => {
  it('depends on nothing of Toolplane: Node built-ins and the RFC 8785 canonicaliser only', () => {
    const { files, external } = closure('verify.ts');
    expect(files).toContain('merkle.ts');
    expect(external.every((s) => s.startsWith('node:') || s === 'canonicalize')).toBe(true);
    expect(external).toEqual(['canonicalize', 'node:crypto']);
    const manifest = JSON.parse(readFileSync(join(here, '..', 'package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies)).toEqual(['canonicalize']);
  });
});
