import { exceedsJsonDepth } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { LineCounter, parseDocument } from 'yaml';

/**
 * How deeply a submitted document may nest. Real API descriptions stay far below it (GitHub's
 * nests 21 levels, the deepest of APIs.guru's 2,639 documents 34); the importers and compilers
 * recurse, so anything deeper is refused before they run.
 */
const MAX_DOCUMENT_DEPTH = 256;

/** Most aliases a YAML document may expand: more is an alias bomb (a few lines growing to gigabytes). */
const MAX_YAML_ALIASES = 100;

/** Throws a 422 when a parsed document nests deeper than MAX_DOCUMENT_DEPTH. */
export function assertDocumentDepth(value: unknown): void {
  if (exceedsJsonDepth(value, MAX_DOCUMENT_DEPTH))
    throw new ValidationError('the document nests too deeply', [
      { path: '', message: `objects and arrays may nest at most ${MAX_DOCUMENT_DEPTH} levels` },
    ]);
}

/**
 * Parses a submitted document, JSON or YAML (JSON is YAML 1.2, so one parser serves both).
 * Every syntax problem is reported with its line and column.
 */
export function loadDocument(text: string): unknown {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true, strict: true });
  if (doc.errors.length > 0) {
    throw new ValidationError(
      'the document is not valid YAML or JSON',
      doc.errors.map((e) => {
        const { line, col } = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `line ${line}, column ${col}: ${e.message.split('\n')[0]}` };
      }),
    );
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (err) {
    // The yaml library refuses excessive alias expansion (and a too deep tree) with a plain Error.
    throw new ValidationError('the document is not acceptable YAML', [
      {
        path: '',
        message:
          err instanceof RangeError
            ? 'the document nests too deeply'
            : `aliases expand too much (at most ${MAX_YAML_ALIASES}): ${err instanceof Error ? err.message : String(err)}`,
      },
    ]);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('the document must be an object', [
      { path: '', message: 'expected a mapping at the top level' },
    ]);
  }
  assertDocumentDepth(value);
  return value;
}
