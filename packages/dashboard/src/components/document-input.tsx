import type { ChangeEvent } from 'react';
import { ApiError } from '../api.ts';
import { DocumentView, IssueList, placeIssues, type PlacedIssue } from '../document-view.tsx';
import { CodeArea } from './form.tsx';

/** JSON when the text starts like JSON, else YAML (a superset the API reads too). */
export function contentType(text: string): string {
  return /^\s*[{[]/.test(text) ? 'application/json' : 'application/yaml';
}

/** A document the API refused (422): its message, and its problems placed at their lines. */
export interface InvalidDocumentOutcome {
  kind: 'invalid';
  message: string;
  text: string;
  issues: PlacedIssue[];
}

/** What a failed upload of `sent` shows: its problems at their lines (422), or the error. */
export function uploadFailure(err: unknown, sent: string): InvalidDocumentOutcome | { kind: 'error'; error: unknown } {
  return err instanceof ApiError && err.status === 422
    ? { kind: 'invalid', message: err.message, text: sent, issues: placeIssues(sent, err.issues) }
    : { kind: 'error', error: err };
}

/**
 * A connector document to upload: a file (YAML or JSON) read into the text area, or pasted there.
 * `id` prefixes the fields' ids (`{id}-file`, `{id}-text`).
 */
export function DocumentInput({
  id,
  text,
  onText,
  onError,
}: {
  id: string;
  text: string;
  onText: (text: string) => void;
  onError: (error: unknown) => void;
}) {
  const readFile = (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (file) file.text().then(onText, onError);
  };
  return (
    <>
      <label htmlFor={`${id}-file`}>Descriptor or OpenAPI document file (YAML or JSON)</label>
      <input
        id={`${id}-file`}
        type="file"
        accept=".yaml,.yml,.json,application/json,application/yaml"
        onChange={readFile}
      />
      <CodeArea id={`${id}-text`} label="Or paste it" rows={14} value={text} onValue={onText} />
    </>
  );
}

/** A refused document: how many problems, each at its line:column, and the document with its lines marked. */
export function InvalidDocument({ outcome }: { outcome: InvalidDocumentOutcome }) {
  return (
    <div className="invalid">
      <div className="error" role="alert">
        <strong>The document is invalid</strong> ({outcome.message}): {outcome.issues.length} problem
        {outcome.issues.length === 1 ? '' : 's'}.
      </div>
      <IssueList issues={outcome.issues} label="Problems of the document" />
      <DocumentView text={outcome.text} issues={outcome.issues} label="The submitted document, problems marked" />
    </div>
  );
}
