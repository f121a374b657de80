import { useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap } from '../api.ts';
import { DocumentView, IssueList, placeIssues, type PlacedIssue } from '../document-view.tsx';
import { Link, navigate } from '../router.tsx';
import { Empty, ErrorBox, Show, useLoad } from '../ui.tsx';

type Outcome =
  | { kind: 'validated'; format: string; tools: string[] }
  | { kind: 'deployed'; tools: string[] }
  | { kind: 'unchanged' }
  | {
      kind: 'invalid';
      message: string;
      text: string;
      issues: PlacedIssue[];
      bodyIssues: { path: string; message: string }[];
    }
  | { kind: 'error'; error: unknown };

function Editor({ client, server, onDeployed }: { client: ManagementClient; server: string; onDeployed: () => void }) {
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const send = (dryRun: boolean) => {
    setBusy(true);
    setOutcome(null);
    const sent = text;
    client
      .POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server }, query: dryRun ? { dry_run: 'true' } : {} },
        body: { definition: sent },
      })
      .then(
        ({ data, error, response }) => {
          if (response.status === 204) return setOutcome({ kind: 'unchanged' });
          if (response.ok && data && 'state' in data && data.state === 'validated')
            return setOutcome({ kind: 'validated', format: data.format, tools: data.tools });
          if (response.ok && data) {
            onDeployed();
            return setOutcome({ kind: 'deployed', tools: data.tools });
          }
          const problem = (error ?? {}) as {
            message?: string;
            detail?: string;
            errors?: { path: string; message: string }[];
          };
          const message = problem.message ?? problem.detail ?? `HTTP ${response.status}`;
          if (response.status === 422) {
            const all = problem.errors ?? [];
            // Problems of the request body (`/references/0/…`) are not places in the document.
            const inDocument = !/deployment request/i.test(message);
            setOutcome({
              kind: 'invalid',
              message,
              text: sent,
              issues: inDocument ? placeIssues(sent, all) : [],
              bodyIssues: inDocument ? [] : all,
            });
          } else setOutcome({ kind: 'error', error: new ApiError(response.status, message, undefined, []) });
        },
        (err: unknown) => setOutcome({ kind: 'error', error: err }),
      )
      .finally(() => setBusy(false));
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send(false);
  };
  return (
    <form className="form" onSubmit={submit}>
      <label htmlFor="workflow-text">Flower 0.1 or Arazzo 1.0 document (YAML or JSON)</label>
      <textarea
        id="workflow-text"
        className="code"
        rows={16}
        spellCheck={false}
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <div className="buttons">
        <button type="button" className="secondary" disabled={busy || !text.trim()} onClick={() => send(true)}>
          Validate
        </button>
        <button type="submit" disabled={busy || !text.trim()}>
          Deploy
        </button>
      </div>
      {outcome?.kind === 'validated' && (
        <p className="success" role="status">
          Valid {outcome.format} document: it would give the tools {outcome.tools.join(', ') || '(none)'}.
        </p>
      )}
      {outcome?.kind === 'deployed' && (
        <p className="success" role="status">
          Deployed: the server now has the tools {outcome.tools.join(', ')}.
        </p>
      )}
      {outcome?.kind === 'unchanged' && (
        <p className="success" role="status">
          Already the active deployment: nothing changed.
        </p>
      )}
      {outcome?.kind === 'error' && <ErrorBox error={outcome.error} title="Not deployed" />}
      {outcome?.kind === 'invalid' && (
        <div className="invalid">
          <div className="error" role="alert">
            <strong>Invalid:</strong> {outcome.message}
          </div>
          {outcome.bodyIssues.length > 0 && (
            <ul>
              {outcome.bodyIssues.map((i, n) => (
                <li key={n}>
                  {i.message} <code>({i.path})</code>
                </li>
              ))}
            </ul>
          )}
          {outcome.issues.length > 0 && (
            <>
              <IssueList issues={outcome.issues} label="Problems of the workflow document" />
              <DocumentView
                text={outcome.text}
                issues={outcome.issues}
                label="The workflow document, problems marked"
              />
            </>
          )}
        </div>
      )}
    </form>
  );
}

function History({ client, server, tick }: { client: ManagementClient; server: string; tick: number }) {
  const [deployments] = useLoad(
    () => unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server } } })),
    [client, server, tick],
  );
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Deployment history</h2>
      <Show loaded={deployments} what="the deployments">
        {(list) =>
          list.data.length === 0 ? (
            <Empty>No deployment yet.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Deployments, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                  <th scope="col">Format</th>
                  <th scope="col">Tools</th>
                  <th scope="col">Problems</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((d) => (
                  <tr key={d.id}>
                    <td>{new Date(d.created_at).toLocaleString()}</td>
                    <td>{d.state}</td>
                    <td>{d.format ?? '—'}</td>
                    <td>{d.tools.join(', ')}</td>
                    <td>{[...d.errors, ...d.warnings].map((p) => `${p.message} (${p.path})`).join('; ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Show>
    </section>
  );
}

export function WorkflowsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const server = query.get('server') ?? '';
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  const [tick, setTick] = useState(0);
  return (
    <>
      <h1>Workflows</h1>
      <p>Deploy a Flower or Arazzo document as the tools of a NORMAL server.</p>
      <Show loaded={servers} what="the servers">
        {(list) => {
          const normal = list.data.filter((s) => s.mode === 'NORMAL');
          if (normal.length === 0)
            return (
              <Empty>
                No NORMAL server: <Link href="/servers/new">create one</Link> (it may have no tools).
              </Empty>
            );
          return (
            <div className="field">
              <label htmlFor="workflow-server">Server</label>
              <select
                id="workflow-server"
                value={server}
                onChange={(e) =>
                  navigate(e.target.value ? `/workflows?server=${encodeURIComponent(e.target.value)}` : '/workflows')
                }
              >
                <option value="">Choose a server</option>
                {normal.map((s) => (
                  <option key={s.id} value={s.id}>
                    {s.name}
                  </option>
                ))}
              </select>
            </div>
          );
        }}
      </Show>
      {server && (
        <>
          <Editor key={server} client={client} server={server} onDeployed={() => setTick((t) => t + 1)} />
          <History client={client} server={server} tick={tick} />
        </>
      )}
    </>
  );
}
