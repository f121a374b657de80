import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap } from '../api.ts';
import { DocumentView, IssueList, placeIssues, type PlacedIssue } from '../document-view.tsx';
import { Link, navigate } from '../router.tsx';
import { ConfirmButton, Empty, ErrorBox, Show, useLoad, useRowAction } from '../ui.tsx';

/** How long typing must pause before the document is validated (`?dry_run=true`). */
const LIVE_DELAY_MS = 500;

type Outcome =
  | { kind: 'validated'; format: string; tools: string[]; warnings: { path: string; message: string }[] }
  | { kind: 'deployed'; tools: string[] }
  | { kind: 'unchanged' }
  | {
      kind: 'invalid';
      /** From live validation (a status) rather than a pressed button (an alert). */
      live: boolean;
      message: string;
      text: string;
      issues: PlacedIssue[];
      bodyIssues: { path: string; message: string }[];
    }
  | { kind: 'error'; error: unknown };

/** An OpenAPI document an Arazzo `sourceDescriptions` entry names, matched by its file name. */
interface Reference {
  location: string;
  content: string;
}

/** One `servers` entry: the base URL that replaces a source's servers. */
interface Override {
  key: number;
  name: string;
  url: string;
}

function Editor({ client, server, onDeployed }: { client: ManagementClient; server: string; onDeployed: () => void }) {
  const [text, setText] = useState('');
  const [references, setReferences] = useState<Reference[]>([]);
  const [overrides, setOverrides] = useState<Override[]>([]);
  const [busy, setBusy] = useState(false);
  const [checking, setChecking] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  /** The request in flight: a newer one (typing on, Validate, Deploy) aborts it, and its answer is dropped. */
  const inflight = useRef<AbortController | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const nextKey = useRef(0);

  const servers = Object.fromEntries(
    overrides.filter((o) => o.name.trim() && o.url.trim()).map((o) => [o.name.trim(), o.url.trim()]),
  );
  const referenceOf = (path: string) => {
    const n = /^\/references\/(\d+)/.exec(path)?.[1];
    return n === undefined ? undefined : references[Number(n)]?.location;
  };

  const send = (mode: 'live' | 'validate' | 'deploy') => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    inflight.current?.abort();
    const controller = new AbortController();
    inflight.current = controller;
    const dryRun = mode !== 'deploy';
    const sent = text;
    const current = () => inflight.current === controller;
    if (mode === 'live') setChecking(true);
    else {
      setBusy(true);
      setChecking(false);
      setOutcome(null);
    }
    client
      .POST('/mcp_servers/{id}/deploy', {
        params: { path: { id: server }, query: dryRun ? { dry_run: 'true' } : {} },
        body: {
          definition: sent,
          ...(references.length > 0 ? { references } : {}),
          ...(Object.keys(servers).length > 0 ? { servers } : {}),
        },
        signal: controller.signal,
      })
      .then(
        ({ data, error, response }) => {
          if (!current()) return;
          if (response.status === 204) return setOutcome({ kind: 'unchanged' });
          if (response.ok && data && 'state' in data && data.state === 'validated')
            return setOutcome({ kind: 'validated', format: data.format, tools: data.tools, warnings: data.warnings });
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
            // Problems of the request body (`/references/0/…`, `/servers/…`) are not places in the document.
            const inDocument = !/deployment request/i.test(message);
            setOutcome({
              kind: 'invalid',
              live: mode === 'live',
              message,
              text: sent,
              issues: inDocument ? placeIssues(sent, all) : [],
              bodyIssues: inDocument ? [] : all,
            });
          } else setOutcome({ kind: 'error', error: new ApiError(response.status, { detail: message }) });
        },
        (err: unknown) => {
          if (current() && !controller.signal.aborted) setOutcome({ kind: 'error', error: err });
        },
      )
      .finally(() => {
        if (!current()) return;
        inflight.current = null;
        setBusy(false);
        setChecking(false);
      });
  };

  // Live validation: a pause in typing (or a changed reference or override) validates what is there; a request
  // still running for an older text is aborted.
  const sendRef = useRef(send);
  sendRef.current = send;
  const serversKey = JSON.stringify(servers);
  useEffect(() => {
    if (!text.trim()) {
      inflight.current?.abort();
      inflight.current = null;
      setChecking(false);
      setOutcome(null);
      return;
    }
    timer.current = setTimeout(() => sendRef.current('live'), LIVE_DELAY_MS);
    return () => {
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [text, references, serversKey]);
  // Leaving the page aborts what is still running.
  useEffect(() => () => inflight.current?.abort(), []);

  const addReferences = (files: FileList | null) => {
    const list = [...(files ?? [])];
    if (list.length === 0) return;
    void Promise.all(list.map(async (f) => ({ location: f.name, content: await f.text() }))).then((read) =>
      setReferences((prev) => [
        ...prev.filter((r) => !read.some((n) => n.location === r.location)),
        ...read, // a file of the same name replaces the earlier one
      ]),
    );
  };
  const setOverride = (key: number, change: Partial<Override>) =>
    setOverrides((prev) => prev.map((o) => (o.key === key ? { ...o, ...change } : o)));

  const submit = (e: FormEvent) => {
    e.preventDefault();
    send('deploy');
  };
  return (
    <form className="form" onSubmit={submit}>
      <label htmlFor="workflow-text">Flower 0.1 or Arazzo 1.0 document (YAML or JSON)</label>
      <p className="hint" id="workflow-text-hint">
        Checked as you type: problems appear below, at their lines.
      </p>
      <textarea
        id="workflow-text"
        className="code"
        rows={16}
        spellCheck={false}
        aria-describedby="workflow-text-hint"
        value={text}
        onChange={(e) => setText(e.target.value)}
      />
      <fieldset>
        <legend>OpenAPI references</legend>
        <p className="hint" id="references-hint">
          The OpenAPI documents an Arazzo document’s <code>sourceDescriptions</code> name, matched by file name. Nothing
          is fetched.
        </p>
        <label htmlFor="workflow-references">Add reference files</label>
        <input
          id="workflow-references"
          type="file"
          multiple
          accept=".yaml,.yml,.json,application/json,application/yaml,text/yaml"
          aria-describedby="references-hint"
          onChange={(e) => {
            addReferences(e.target.files);
            e.target.value = '';
          }}
        />
        {references.length > 0 && (
          <ul aria-label="Reference files">
            {references.map((r) => (
              <li key={r.location}>
                <code>{r.location}</code> ({r.content.length} characters){' '}
                <button
                  type="button"
                  className="secondary"
                  aria-label={`Remove ${r.location}`}
                  onClick={() => setReferences((prev) => prev.filter((x) => x.location !== r.location))}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
        )}
      </fieldset>
      <fieldset>
        <legend>Source URL overrides (optional)</legend>
        <p className="hint">The base URL that replaces the servers of a source description’s OpenAPI document.</p>
        {overrides.map((o) => (
          <div className="inline-form" key={o.key}>
            <div className="field">
              <label htmlFor={`override-name-${o.key}`}>Source name</label>
              <input
                id={`override-name-${o.key}`}
                value={o.name}
                onChange={(e) => setOverride(o.key, { name: e.target.value })}
              />
            </div>
            <div className="field">
              <label htmlFor={`override-url-${o.key}`}>Base URL</label>
              <input
                id={`override-url-${o.key}`}
                type="url"
                value={o.url}
                onChange={(e) => setOverride(o.key, { url: e.target.value })}
              />
            </div>
            <button
              type="button"
              className="secondary"
              aria-label={`Remove the override${o.name ? ` of ${o.name}` : ''}`}
              onClick={() => setOverrides((prev) => prev.filter((x) => x.key !== o.key))}
            >
              Remove
            </button>
          </div>
        ))}
        <div>
          <button
            type="button"
            className="secondary"
            onClick={() => setOverrides((prev) => [...prev, { key: nextKey.current++, name: '', url: '' }])}
          >
            Add a source URL override
          </button>
        </div>
      </fieldset>
      <div className="buttons">
        <button type="button" className="secondary" disabled={busy || !text.trim()} onClick={() => send('validate')}>
          Validate
        </button>
        <button type="submit" disabled={busy || !text.trim()}>
          Deploy
        </button>
      </div>
      {checking && (
        <p className="hint" role="status">
          Checking…
        </p>
      )}
      {outcome?.kind === 'validated' && (
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

/**
 * The deployments, newest first, numbered from the oldest (#1). The active one's tools can be taken off the server
 * (`…/withdraw`); an earlier one that compiled can be deployed again from what it stored (`…/redeploy`): a rollback.
 */
function History({
  client,
  server,
  tick,
  onChanged,
}: {
  client: ManagementClient;
  server: string;
  tick: number;
  onChanged: () => void;
}) {
  const [deployments] = useLoad(
    () => unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server } } })),
    [client, server],
    tick, // a deployment or rollback: the table is refreshed in place
  );
  const { pending, error, run } = useRowAction();
  const [done, setDone] = useState<string | null>(null);
  const path = (deploymentId: string) => ({ params: { path: { id: server, deploymentId } } });
  const rollBack = (id: string, label: string) => {
    setDone(null);
    run(
      id,
      async () => {
        const {
          data,
          error: failure,
          response,
        } = await client.POST('/mcp_servers/{id}/deployments/{deploymentId}/redeploy', path(id));
        if (response.status === 204) return setDone(`${label} is already the active deployment: nothing changed.`);
        if (!data) throw new ApiError(response.status, failure);
        setDone(`${label} deployed again: the server now has the tools ${data.tools.join(', ') || '(none)'}.`);
      },
      onChanged,
    );
  };
  const withdraw = (id: string, label: string) => {
    setDone(null);
    run(
      id,
      () =>
        unwrap(client.POST('/mcp_servers/{id}/deployments/{deploymentId}/withdraw', path(id))).then(() =>
          setDone(`The tools of ${label} were taken off the server.`),
        ),
      onChanged,
    );
  };
  return (
    <section aria-labelledby="history-title">
      <h2 id="history-title">Deployment history</h2>
      {done && (
        <p className="success" role="status">
          {done}
        </p>
      )}
      {error !== null && <ErrorBox error={error} title="Not done" />}
      <Show loaded={deployments} what="the deployments">
        {(list) =>
          list.data.length === 0 ? (
            <Empty>No deployment yet.</Empty>
          ) : (
            <table>
              <caption className="visually-hidden">Deployments, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Deployment</th>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                  <th scope="col">Format</th>
                  <th scope="col">Tools</th>
                  <th scope="col">Problems</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {list.data.map((d, n) => {
                  const label = `deployment #${list.data.length - n}`;
                  return (
                    <tr key={d.id} data-state={d.state}>
                      <th scope="row">#{list.data.length - n}</th>
                      <td>{new Date(d.created_at).toLocaleString()}</td>
                      <td>{d.state}</td>
                      <td>{d.format ?? '—'}</td>
                      <td>{d.tools.join(', ')}</td>
                      <td>{[...d.errors, ...d.warnings].map((p) => `${p.message} (${p.path})`).join('; ')}</td>
                      <td>
                        {d.state === 'active' && (
                          <ConfirmButton
                            label="Remove its tools"
                            name={`of ${label}`}
                            question={`Take ${d.tools.join(', ') || 'its tools'} off the server?`}
                            confirmLabel="Remove the tools"
                            busy={pending === d.id}
                            onConfirm={() => withdraw(d.id, label)}
                          />
                        )}
                        {(d.state === 'superseded' || d.state === 'withdrawn') && (
                          <button
                            type="button"
                            className="secondary"
                            disabled={pending !== null}
                            onClick={() => rollBack(d.id, label)}
                            aria-label={`${d.state === 'withdrawn' ? 'Deploy again' : 'Roll back to'} ${label}`}
                          >
                            {pending === d.id ? 'Deploying…' : d.state === 'withdrawn' ? 'Deploy again' : 'Roll back'}
                          </button>
                        )}
                      </td>
                    </tr>
                  );
                })}
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
          <History client={client} server={server} tick={tick} onChanged={() => setTick((t) => t + 1)} />
        </>
      )}
    </>
  );
}
