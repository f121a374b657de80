import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { invalidInput } from './errors.ts';

/** Reading the documents commands send: YAML or JSON files, one file or every such file under a directory. */

const documentExtensions = new Set(['.yaml', '.yml', '.json']);

/** The content type the control plane expects for a file (it takes YAML and JSON). */
export function contentTypeOf(file: string): string {
  return extname(file).toLowerCase() === '.json' ? 'application/json' : 'application/yaml';
}

export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw invalidInput(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => {
      if (e.name.startsWith('.')) return [];
      const p = join(dir, e.name);
      if (e.isDirectory()) return walk(p);
      return documentExtensions.has(extname(e.name).toLowerCase()) ? [p] : [];
    });
}

/** `path` itself when it is a file, else its YAML/JSON files (recursively, sorted); none is an error. */
export function documentFiles(path: string): string[] {
  let isDir: boolean;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    throw invalidInput(`no such file or directory: ${path}`);
  }
  if (!isDir) return [path];
  const files = walk(path);
  if (files.length === 0) throw invalidInput(`no .yaml, .yml or .json files under ${path}`);
  return files;
}

/** Files under `dir` as deploy references: `location` is the path relative to `dir`, as documents name them. */
export function referenceFiles(dir: string): { location: string; content: string }[] {
  return documentFiles(dir).map((file) => ({ location: relative(dir, file), content: readText(file) }));
}
