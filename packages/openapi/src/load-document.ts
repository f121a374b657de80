import { ValidationError } from '@toolplane/errors';
import { LineCounter, parseDocument } from 'yaml';

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
  const value: unknown = doc.toJS({ maxAliasCount: 100 });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new ValidationError('the document must be an object', [
      { path: '', message: 'expected a mapping at the top level' },
    ]);
  }
  return value;
}
