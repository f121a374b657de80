import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError } from '../../api.ts';
import { placeIssues } from '../../document-view.tsx';
import { OverridesField, ReferencesField, type Override, type Reference } from './fields.tsx';
import { OutcomeView, type Outcome, type Problem } from './outcome.tsx';

/** How long typing must pause before the document is validated (`?dry_run=true`). */
const LIVE_DELAY_MS = 500;

type Mode = 'live' | 'validate' | 'deploy';

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

export function Editor({
  client,
  server,
  onDeployed,
}: {
  client: ManagementClient;
  server: string;
  onDeployed: () => void;
}) {
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
