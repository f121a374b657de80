import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';

/**
 * Maps the JSON pointers of a 422's `errors[].path` back to `file:line:column` in the YAML or JSON file
 * the user wrote, so an editor or CI annotation can jump to it. A path that points at something that
 * does not exist (a missing required field) lands on its nearest existing ancestor.
 */

/** RFC 6901 segments of a JSON pointer (`/a~1b/0` → `a/b`, `0`). */
function pointerSegments(pointer: string): string[] {
  if (pointer === '' || pointer === '/') return [];
  return pointer
    .replace(/^#/, '')
    .replace(/^\//, '')
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** The offset of the deepest existing node along `segments`: a map entry's key, a sequence item, else the root. */
function offsetOf(root: Node | null, segments: string[]): number {
  let node: unknown = root;
  let offset = root?.range?.[0] ?? 0;
  for (const segment of segments) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === segment);
      if (!pair) break;
      offset = (isScalar(pair.key) ? pair.key.range?.[0] : undefined) ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item: unknown = /^\d+$/.test(segment) ? node.items[Number(segment)] : undefined;
      if (!item) break;
      offset = (item as Node).range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset;
}

/** One problem of a 422 (`errors[]` of a problem+json body): a JSON pointer into the submitted document. */
interface LocatableIssue {
  path: string;
  message: string;
}

/**
 * Adds `location` (`file:line:column`, 1-based) to each issue, placing its path in `text` (YAML or JSON).
 * Text that cannot be parsed puts every issue at 1:1.
 */
export function locateIssues<T extends LocatableIssue>(
  file: string,
  text: string,
  issues: readonly T[],
): (T & { location: string })[] {
  const lineCounter = new LineCounter();
  let doc: ReturnType<typeof parseDocument>;
  try {
    doc = parseDocument(text, { lineCounter, keepSourceTokens: false, uniqueKeys: false });
  } catch {
    return issues.map((i) => ({ ...i, location: `${file}:1:1` }));
  }
  return issues.map((issue) => {
    const { line, col } = lineCounter.linePos(offsetOf(doc.contents, pointerSegments(issue.path)));
    return { ...issue, location: `${file}:${line}:${col}` };
  });
}
