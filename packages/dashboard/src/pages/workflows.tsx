import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { DocumentView, IssueList, placeIssues, type PlacedIssue } from '../document-view.tsx';
import { InlineRows, SelectField, Success, TextField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link, navigate } from '../router.tsx';
import { ActionButton, ConfirmButton, Empty, ErrorBox, Show, useLoad, useRowAction } from '../ui.tsx';
import { Writable } from '../powers.tsx';
import { Section } from '../components/section.tsx';

/** How long typing must pause before the document is validated (`?dry_run=true`). */
const LIVE_DELAY_MS = 500;

type Mode = 'live' | 'validate' | 'deploy';
type Problem = { path: string; message: string };

type Outcome =
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

/** What the deployment request sends: the document, its references and the source URL overrides. */
interface DeployRequest {
  server: string;
  text: string;
  references: Reference[];
  servers: Record<string, string>;
}

/** What a refusal says: its problems at their lines, or (a problem of the request body) by path. */
function refusal(status: number, error: unknown, sent: string, live: boolean): Outcome {
  const problem = (error ?? {}) as { message?: string; detail?: string; errors?: Problem[] };
  const message = problem.message ?? problem.detail ?? `HTTP ${status}`;
  if (status !== 422) return { kind: 'error', error: new ApiError(status, { detail: message }) };
  const all = problem.errors ?? [];
  // Problems of the request body (`/references/0/…`, `/servers/…`) are not places in the document.
  const inDocument = !/deployment request/i.test(message);
  return {
    kind: 'invalid',
    live,
    message,
    text: sent,
    issues: inDocument ? placeIssues(sent, all) : [],
    bodyIssues: inDocument ? [] : all,
  };
}

/** Sends the document (`dry_run` unless deploying) and says what came of it. */
async function postDeployment(
  client: ManagementClient,
  req: DeployRequest,
  mode: Mode,
  signal: AbortSignal,
): Promise<Outcome> {
  const { data, error, response } = await client.POST('/mcp_servers/{id}/deploy', {
    params: { path: { id: req.server }, query: mode !== 'deploy' ? { dry_run: 'true' } : {} },
    body: {
      definition: req.text,
      ...(req.references.length > 0 ? { references: req.references } : {}),
      ...(Object.keys(req.servers).length > 0 ? { servers: req.servers } : {}),
    },
    signal,
  });
  if (response.status === 204) return { kind: 'unchanged' };
  if (response.ok && data && 'state' in data && data.state === 'validated')
    return { kind: 'validated', format: data.format, tools: data.tools, warnings: data.warnings };
  if (response.ok && data) return { kind: 'deployed', tools: data.tools };
  return refusal(response.status, error, req.text, mode === 'live');
}

/**
 * Sends the document: live (as it is typed), to validate it, or to deploy it. A newer request (typing on, Validate,
 * Deploy) aborts the one in flight, whose answer is dropped.
 */
function useDeployment(client: ManagementClient, onDeployed: () => void) {
  const [busy, setBusy] = useState(false);
  const [checking, setChecking] = useState(false);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const inflight = useRef<AbortController | null>(null);
  const send = (req: DeployRequest, mode: Mode) => {
    inflight.current?.abort();
    const controller = new AbortController();
    inflight.current = controller;
    const current = () => inflight.current === controller;
    if (mode === 'live') setChecking(true);
    else {
      setBusy(true);
      setChecking(false);
      setOutcome(null);
    }
    postDeployment(client, req, mode, controller.signal)
      .then(
        (answer) => {
          if (!current()) return;
          if (answer.kind === 'deployed') onDeployed();
          setOutcome(answer);
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
  const reset = () => {
    inflight.current?.abort();
    inflight.current = null;
    setChecking(false);
    setOutcome(null);
  };
  // Leaving the page aborts what is still running.
  useEffect(() => () => inflight.current?.abort(), []);
  return { busy, checking, outcome, send, reset };
}

/**
 * Live validation: a pause in typing (or a changed reference or override) validates what is there; `send` cancels
 * a pending one (Validate, Deploy).
 */
function useLiveValidation(req: DeployRequest, deployment: ReturnType<typeof useDeployment>) {
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const send = (mode: Mode) => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    deployment.send(req, mode);
  };
  const sendRef = useRef(send);
  sendRef.current = send;
  const serversKey = JSON.stringify(req.servers);
  useEffect(() => {
    if (!req.text.trim()) return deployment.reset();
    timer.current = setTimeout(() => sendRef.current('live'), LIVE_DELAY_MS);
    return () => {
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    };
  }, [req.text, req.references, serversKey]);
  return send;
}

/** The OpenAPI documents an Arazzo document's `sourceDescriptions` name, read from files. */
function ReferencesField({ references, onChange }: { references: Reference[]; onChange: (r: Reference[]) => void }) {
  const add = (files: FileList | null) => {
    const list = [...(files ?? [])];
    if (list.length === 0) return;
    void Promise.all(list.map(async (f) => ({ location: f.name, content: await f.text() }))).then((read) =>
      // A file of the same name replaces the earlier one.
      onChange([...references.filter((r) => !read.some((n) => n.location === r.location)), ...read]),
    );
  };
  return (
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
          add(e.target.files);
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
                onClick={() => onChange(references.filter((x) => x.location !== r.location))}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </fieldset>
  );
}

/** The base URLs that replace the servers of source descriptions' OpenAPI documents. */
function OverridesField({ overrides, onChange }: { overrides: Override[]; onChange: (o: Override[]) => void }) {
  const nextKey = useRef(0);
  const set = (key: number, change: Partial<Override>) =>
    onChange(overrides.map((o) => (o.key === key ? { ...o, ...change } : o)));
  return (
    <fieldset>
      <legend>Source URL overrides (optional)</legend>
      <p className="hint">The base URL that replaces the servers of a source description’s OpenAPI document.</p>
      <InlineRows
        rows={overrides}
        fields={(o) => (
          <>
            <TextField
              inline
              id={`override-name-${o.key}`}
              label="Source name"
              value={o.name}
              onValue={(name) => set(o.key, { name })}
            />
            <TextField
              inline
              id={`override-url-${o.key}`}
              label="Base URL"
              type="url"
              value={o.url}
              onValue={(url) => set(o.key, { url })}
            />
          </>
        )}
        removeLabel={(o) => `Remove the override${o.name ? ` of ${o.name}` : ''}`}
        onRemove={(o) => onChange(overrides.filter((x) => x.key !== o.key))}
        addLabel="Add a source URL override"
        onAdd={() => onChange([...overrides, { key: nextKey.current++, name: '', url: '' }])}
      />
    </fieldset>
  );
}

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
function OutcomeView({
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

function Editor({ client, server, onDeployed }: { client: ManagementClient; server: string; onDeployed: () => void }) {
  const [text, setText] = useState('');
  const [references, setReferences] = useState<Reference[]>([]);
  const [overrides, setOverrides] = useState<Override[]>([]);
  const servers = Object.fromEntries(
    overrides.filter((o) => o.name.trim() && o.url.trim()).map((o) => [o.name.trim(), o.url.trim()]),
  );
  const deployment = useDeployment(client, onDeployed);
  const send = useLiveValidation({ server, text, references, servers }, deployment);
  const referenceOf = (path: string) => {
    const n = /^\/references\/(\d+)/.exec(path)?.[1];
    return n === undefined ? undefined : references[Number(n)]?.location;
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    send('deploy');
  };
  const { busy } = deployment;
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
      <ReferencesField references={references} onChange={setReferences} />
      <OverridesField overrides={overrides} onChange={setOverrides} />
      <div className="buttons">
        <button type="button" className="secondary" disabled={busy || !text.trim()} onClick={() => send('validate')}>
          Validate
        </button>
        <button type="submit" disabled={busy || !text.trim()}>
          Deploy
        </button>
      </div>
      {deployment.checking && (
        <p className="hint" role="status">
          Checking…
        </p>
      )}
      <OutcomeView outcome={deployment.outcome} referenceOf={referenceOf} />
    </form>
  );
}

type Deployment = Schemas['WorkflowDeployment'];

/** Rolling back to an earlier deployment (`…/redeploy`) and taking the active one's tools off (`…/withdraw`). */
function useHistoryActions(client: ManagementClient, server: string, onChanged: () => void) {
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
  return { pending, error, done, rollBack, withdraw };
}

type HistoryActions = ReturnType<typeof useHistoryActions>;

/** A deployment's actions: the active one's tools off the server, an earlier one deployed again. */
function DeploymentActions({ d, label, actions }: { d: Deployment; label: string; actions: HistoryActions }) {
  const { pending } = actions;
  if (d.state === 'active')
    return (
      <ConfirmButton
        label="Remove its tools"
        name={`of ${label}`}
        question={`Take ${d.tools.join(', ') || 'its tools'} off the server?`}
        confirmLabel="Remove the tools"
        busy={pending === d.id}
        onConfirm={() => actions.withdraw(d.id, label)}
      />
    );
  if (d.state !== 'superseded' && d.state !== 'withdrawn') return null;
  return (
    <ActionButton
      className="secondary"
      disabled={pending !== null}
      onClick={() => actions.rollBack(d.id, label)}
      aria-label={`${d.state === 'withdrawn' ? 'Deploy again' : 'Roll back to'} ${label}`}
    >
      {pending === d.id ? 'Deploying…' : d.state === 'withdrawn' ? 'Deploy again' : 'Roll back'}
    </ActionButton>
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
    () => unwrap(client.GET('/mcp_servers/{id}/deployments', { params: { path: { id: server } } })).then((r) => r.data),
    [client, server],
    tick, // a deployment or rollback: the table is refreshed in place
  );
  const actions = useHistoryActions(client, server, onChanged);
  const count = deployments.state === 'done' ? deployments.data.length : 0;
  const label = (n: number) => `deployment #${count - n}`;
  const columns: Column<Deployment>[] = [
    { header: 'Deployment', rowHeader: true, cell: (_, n) => `#${count - n}` },
    { header: 'Created', cell: (d) => new Date(d.created_at).toLocaleString() },
    { header: 'State', cell: (d) => d.state },
    { header: 'Format', cell: (d) => d.format ?? '—' },
    { header: 'Tools', cell: (d) => d.tools.join(', ') },
    { header: 'Problems', cell: (d) => [...d.errors, ...d.warnings].map((p) => `${p.message} (${p.path})`).join('; ') },
    { header: 'Actions', cell: (d, n) => <DeploymentActions d={d} label={label(n)} actions={actions} /> },
  ];
  return (
    <Section id="history" title="Deployment history">
      <Success>{actions.done}</Success>
      {actions.error !== null && <ErrorBox error={actions.error} title="Not done" />}
      <ResourceTable
        loaded={deployments}
        what="the deployments"
        columns={columns}
        rowData={(d) => ({ state: d.state })}
        caption="Deployments, newest first"
        empty="No deployment yet."
      />
    </Section>
  );
}

/** The NORMAL servers to deploy to, one chosen in the address (`?server=<id>`). */
function ServerChoice({ client, server }: { client: ManagementClient; server: string }) {
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  return (
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
          <SelectField
            inline
            id="workflow-server"
            label="Server"
            value={server}
            onValue={(v) => navigate(v ? `/workflows?server=${encodeURIComponent(v)}` : '/workflows')}
            options={[{ value: '', label: 'Choose a server' }, ...normal.map((s) => ({ value: s.id, label: s.name }))]}
          />
        );
      }}
    </Show>
  );
}

export function WorkflowsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const server = query.get('server') ?? '';
  const [tick, setTick] = useState(0);
  return (
    <>
      <h1>Workflows</h1>
      <p>Deploy a Flower or Arazzo document as the tools of a NORMAL server.</p>
      <ServerChoice client={client} server={server} />
      {server && (
        <>
          <Writable>
            <Editor key={server} client={client} server={server} onDeployed={() => setTick((t) => t + 1)} />
          </Writable>
          <History client={client} server={server} tick={tick} onChanged={() => setTick((t) => t + 1)} />
        </>
      )}
    </>
  );
}
