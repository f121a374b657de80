import { locateIssues } from '@toolplane/client';
import type { Issue } from './api.ts';

/** Issues placed in `text` at line:column (1-based) by `locateIssues`. */
export interface PlacedIssue extends Issue {
  line: number;
  column: number;
}

export function placeIssues(text: string, issues: Issue[]): PlacedIssue[] {
  return locateIssues('document', text, issues).map((i) => {
    const [, line = '1', column = '1'] = /:(\d+):(\d+)$/.exec(i.location) ?? [];
    return { path: i.path, message: i.message, line: Number(line), column: Number(column) };
  });
}

/** The list of problems, each as `line:column: message (path)`. */
export function IssueList({ issues, label }: { issues: PlacedIssue[]; label: string }) {
  return (
    <ul className="issues" aria-label={label}>
      {issues.map((i, n) => (
        <li key={n}>
          <a href={`#line-${i.line}`}>
            {i.line}:{i.column}
          </a>
          : {i.message} <code>({i.path || '/'})</code>
        </li>
      ))}
    </ul>
  );
}

/** A read-only view of `text` with line numbers; the lines of `issues` are marked with their messages. */
export function DocumentView({ text, issues, label }: { text: string; issues: PlacedIssue[]; label: string }) {
  const byLine = new Map<number, string[]>();
  for (const i of issues) byLine.set(i.line, [...(byLine.get(i.line) ?? []), i.message]);
  return (
    <div className="docview" role="region" aria-label={label} tabIndex={0}>
      <ol>
        {text.split('\n').map((line, n) => {
          const messages = byLine.get(n + 1);
          return (
            <li
              key={n}
              id={`line-${n + 1}`}
              className={messages ? 'marked' : undefined}
              data-line={n + 1}
              title={messages?.join('\n')}
            >
              <code>{line || ' '}</code>
              {messages && <span className="visually-hidden"> (error: {messages.join('; ')})</span>}
            </li>
          );
        })}
      </ol>
    </div>
  );
}
