import { exceedsJsonDepth } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { isAlias, isCollection, isMap, isScalar, LineCounter, parseDocument, type Document } from 'yaml';

/**
 * How deeply a submitted document may nest. Real API descriptions stay far below it (GitHub's
 * nests 21 levels, the deepest of APIs.guru's 2,639 documents 34); the importers and compilers
 * recurse, so anything deeper is refused before they run.
 */
const MAX_DOCUMENT_DEPTH = 256;

/** Most aliases a YAML document may expand: more is an alias bomb (a few lines growing to gigabytes). */
const MAX_YAML_ALIASES = 100;

/** What a YAML text may hold: keys per mapping, aliases (and what they expand to), levels of nesting. */
export interface YamlLimits {
  maxKeys: number;
  maxAliases: number;
  maxDepth: number;
}

/**
 * An API document's limits: real ones stay far below 20,000 keys in one mapping (GitHub's largest, its paths, has
 * about 900).
 */
export const documentYamlLimits: YamlLimits = {
  maxKeys: 20_000,
  maxAliases: MAX_YAML_ALIASES,
  maxDepth: MAX_DOCUMENT_DEPTH,
};

/** Throws a 422 when a parsed document nests deeper than MAX_DOCUMENT_DEPTH. */
export function assertDocumentDepth(value: unknown): void {
  if (exceedsJsonDepth(value, MAX_DOCUMENT_DEPTH))
    throw new ValidationError('the document nests too deeply', [
      { path: '', message: `objects and arrays may nest at most ${MAX_DOCUMENT_DEPTH} levels` },
    ]);
}

type Located = (node: unknown, message: string) => string;

/**
 * One walk of the parsed tree, without recursion: keys unique in each mapping (a set per mapping: linear, where the
 * yaml library's `uniqueKeys` compares every pair), at most `maxKeys` of them, at most `maxAliases` alias nodes,
 * at most `maxDepth` levels. The first problem, else undefined.
 */
function treeProblem(doc: Document, limits: YamlLimits, located: Located): string | undefined {
  const stack: [unknown, number][] = [[doc.contents, 1]];
  let aliases = 0;
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (isAlias(node) && ++aliases > limits.maxAliases)
      return located(node, `more than ${limits.maxAliases} aliases (the limit)`);
    if (!isCollection(node)) continue;
    if (depth > limits.maxDepth) return located(node, `nests deeper than ${limits.maxDepth} levels (the limit)`);
    if (node.items.length > limits.maxKeys)
      return located(
        node,
        `more than ${limits.maxKeys} entries in one ${isMap(node) ? 'mapping' : 'list'} (the limit)`,
      );
    if (!isMap(node)) {
      for (const item of node.items) stack.push([item, depth + 1]);
      continue;
    }
    const seen = new Set<unknown>();
    for (const pair of node.items) {
      const key: unknown = isScalar(pair.key) ? pair.key.value : pair.key;
      if (seen.has(key)) return located(pair.key, 'Map keys must be unique');
      seen.add(key);
      stack.push([pair.key, depth + 1], [pair.value, depth + 1]);
    }
  }
  return undefined;
}

/**
 * Parses YAML (or JSON) within `limits`, in time linear in the text: its value, or its problems, each
 * `line L, column C: …`. An alias bomb (aliases expanding beyond `maxAliases` nodes) is a problem, never a throw.
 */
export function parseYaml(
  text: string,
  limits: YamlLimits,
): { ok: true; value: unknown } | { ok: false; problems: string[] } {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false, strict: true });
  const located: Located = (node, message) => {
    const offset = (node as { range?: [number] } | null)?.range?.[0] ?? 0;
    const { line, col } = lineCounter.linePos(offset);
    return `line ${line}, column ${col}: ${message}`;
  };
  if (doc.errors.length > 0)
    return { ok: false, problems: doc.errors.map((e) => located({ range: e.pos }, e.message.split('\n')[0]!)) };
  const problem = treeProblem(doc, limits, located);
  if (problem) return { ok: false, problems: [problem] };
  try {
    return { ok: true, value: doc.toJS({ maxAliasCount: limits.maxAliases }) as unknown };
  } catch (err) {
    // The yaml library refuses excessive alias expansion (and a too deep tree) with a plain Error.
    return {
      ok: false,
      problems: [
        err instanceof RangeError
          ? 'the document nests too deeply'
          : `aliases expand to more than ${limits.maxAliases} nodes (the limit)`,
      ],
    };
  }
}

/**
 * Parses a submitted document, JSON or YAML (JSON is YAML 1.2, so one parser serves both), within
 * `documentYamlLimits`. Every syntax problem is reported with its line and column.
 */
export function loadDocument(text: string): unknown {
  const parsed = parseYaml(text, documentYamlLimits);
  if (!parsed.ok)
    throw new ValidationError(
      'the document is not valid YAML or JSON',
      parsed.problems.map((message) => ({ path: '', message })),
    );
  const value = parsed.value;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('the document must be an object', [
      { path: '', message: 'expected a mapping at the top level' },
    ]);
  }
  assertDocumentDepth(value);
  return value;
}
