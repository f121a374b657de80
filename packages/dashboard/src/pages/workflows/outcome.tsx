import { DocumentView, IssueList, type PlacedIssue } from '../../document-view.tsx';
import { Success } from '../../components/form.tsx';
import { ErrorBox } from '../../ui.tsx';

export type Problem = { path: string; message: string };

export type Outcome =
  | { kind: 'validated'; format: string; tools: string[]; warnings: Problem[] }
  | { kind: 'deployed'; tools: string[] }
  | { kind: 'unchanged' }
  | {
      kind: 'invalid';
      /** From live validation (a status) rather than a pressed button (an alert). */
      live: boolean;
      message: string;
      text: string;
      issues: PlacedIssue[];
      bodyIssues: Problem[];
    }
  | { kind: 'error'; error: unknown };

function Invalid({
  outcome,
  referenceOf,
}: {
  outcome: Extract<Outcome, { kind: 'invalid' }>;
  referenceOf: (path: string) => string | undefined;
}) {
  return (
    <div className="invalid">
      <div className="error" role={outcome.live ? 'status' : 'alert'}>
        <strong>Invalid:</strong> {outcome.message}
      </div>
      {outcome.bodyIssues.length > 0 && (
        <ul aria-label="Problems of the request">
          {outcome.bodyIssues.map((i, n) => (
            <li key={n}>
              {i.message} <code>({i.path})</code>
              {referenceOf(i.path) && <> in {referenceOf(i.path)}</>}
            </li>
          ))}
        </ul>
      )}
      {outcome.issues.length > 0 && (
        <>
          <IssueList issues={outcome.issues} label="Problems of the workflow document" />
          <DocumentView text={outcome.text} issues={outcome.issues} label="The workflow document, problems marked" />
        </>
      )}
    </div>
  );
}

/** What the last request came to: valid (with warnings), deployed, unchanged, refused or failed. */
export function OutcomeView({
  outcome,
  referenceOf,
}: {
  outcome: Outcome | null;
  referenceOf: (path: string) => string | undefined;
}) {
  switch (outcome?.kind) {
    case 'validated':
      return (
        <div className="success" role="status">
          Valid {outcome.format} document: it would give the tools {outcome.tools.join(', ') || '(none)'}.
          {outcome.warnings.length > 0 && (
            <ul aria-label="Warnings">
              {outcome.warnings.map((w, n) => (
                <li key={n}>
                  {w.message} <code>({w.path || '/'})</code>
                </li>
              ))}
            </ul>
          )}
        </div>
      );
    case 'deployed':
      return <Success>Deployed: the server now has the tools {outcome.tools.join(', ')}.</Success>;
    case 'unchanged':
      return <Success>Already the active deployment: nothing changed.</Success>;
    case 'error':
      return <ErrorBox error={outcome.error} title="Not deployed" />;
    case 'invalid':
      return <Invalid outcome={outcome} referenceOf={referenceOf} />;
    case undefined:
      return null;
  }
}
