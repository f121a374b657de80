import type { FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { OutcomeCell } from '../components/debug-sessions.tsx';
import { filterQuery, SelectField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link, navigate } from '../router.tsx';
import { Empty, Json, Show, useLoad } from '../ui.tsx';
import { Section } from '../components/section.tsx';

const outcomes = ['success', 'tool_error', 'rejected', 'failed', 'unknown'] as const;
type Outcome = (typeof outcomes)[number];

/**
 * Jaeger's UI, when the control plane was given one (JAEGER_UI_URL): a `<meta>` it puts into index.html, so no API
 * call is needed. Only an http(s) URL is used (never a `javascript:` one).
 */
function jaegerUi(): string | null {
  const content = document.querySelector('meta[name="toolplane-jaeger-ui"]')?.getAttribute('content');
  if (!content) return null;
  try {
    const url = new URL(content);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url.href.replace(/\/+$/, '') : null;
  } catch {
    return null;
  }
}

/**
 * The record's trace in Jaeger. A record carries the trace id of its worker span (`trace_id`, set whenever the call
 * was traced and sampled), so the link opens that trace directly (`/trace/<id>`): exact, and it works for every
 * service name. Searching by the `toolplane.invocation.id` span attribute instead (edge and worker spans carry it)
 * would only help for calls whose worker did not trace them, and those leave nothing in Jaeger in a consistent
 * setup (all services share one sampling decision, carried in the job's `traceparent`): no link then.
 */
function jaegerTraceUrl(traceId: string | null): string | null {
  const base = jaegerUi();
  return base && traceId && /^[0-9a-f]{32}$/i.test(traceId) ? `${base}/trace/${traceId.toLowerCase()}` : null;
}

function JaegerLink({ traceId }: { traceId: string | null }) {
  const href = jaegerTraceUrl(traceId);
  if (!href) return null;
  return (
    <>
      {' '}
      <a href={href} target="_blank" rel="noopener noreferrer">
        Open the trace in Jaeger<span className="visually-hidden"> (opens in a new tab)</span>
      </a>
    </>
  );
}

const ms = (n: unknown) => (typeof n === 'number' ? `${Math.round(n * 10) / 10} ms` : '—');

/** The text filters of the records list: one value each, applied with the form (not at every keystroke). */
const textFilters = [
  { key: 'tool', label: 'Tool' },
  { key: 'username', label: 'External user' },
  { key: 'subject', label: 'OAuth subject' },
] as const;

/** Who called, in words: the key's name (or id), the OAuth subject, and the external user acted for. */
function callerText(c: {
  key_id: string | null;
  key_name: string | null;
  subject: string | null;
  username: string | null;
}): string {
  const who = c.key_name
    ? `API key ${c.key_name}`
    : c.subject
      ? `OAuth ${c.subject}`
      : c.key_id
        ? `API key ${c.key_id}`
        : '—';
  return c.username ? `${who}, for user ${c.username}` : who;
}

type TextKey = (typeof textFilters)[number]['key'];
type Summary = Schemas['ExecutionRecordSummary'];

/** The filters in the address: server, outcome, key, and the text filters. */
function filtersOf(query: URLSearchParams) {
  const outcomeParam = query.get('outcome') ?? '';
  return {
    serverId: query.get('server_id') ?? '',
    keyId: query.get('key_id') ?? '',
    outcome: (outcomes as readonly string[]).includes(outcomeParam) ? (outcomeParam as Outcome) : undefined,
    texts: Object.fromEntries(textFilters.map((f) => [f.key, query.get(f.key) ?? ''])) as Record<TextKey, string>,
  };
}

type Filters = ReturnType<typeof filtersOf>;

/** The filters form: the selects apply at once, the text filters with the form. */
function FilterForm(props: {
  query: URLSearchParams;
  filters: Filters;
  servers: Schemas['McpServerSummary'][];
  keys: Schemas['ApiKey'][];
  onRefresh: () => void;
}) {
  const { query, filters, keys } = props;
  const go = (next: URLSearchParams) => {
    const qs = next.toString();
    navigate(`/records${qs ? `?${qs}` : ''}`);
  };
  const setFilter = (key: string, value: string) => go(filterQuery(query, [key], value));
  const applyTexts = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    go(
      filterQuery(
        query,
        textFilters.map((f) => f.key),
        e.currentTarget,
      ),
    );
  };
  const unknownKey = filters.keyId && !keys.some((k) => k.id === filters.keyId);
  return (
    <form className="filters" onSubmit={applyTexts} key={query.toString()}>
      <SelectField
        inline
        id="filter-server"
        label="Server"
        value={filters.serverId}
        onValue={(v) => setFilter('server_id', v)}
        options={[{ value: '', label: 'All servers' }, ...props.servers.map((s) => ({ value: s.id, label: s.name }))]}
      />
      <SelectField
        inline
        id="filter-outcome"
        label="Outcome"
        value={filters.outcome ?? ''}
        onValue={(v) => setFilter('outcome', v)}
        options={[{ value: '', label: 'Any outcome' }, ...outcomes.map((o) => ({ value: o, label: o }))]}
      />
      <SelectField
        inline
        id="filter-key"
        label="API key"
        value={filters.keyId}
        onValue={(v) => setFilter('key_id', v)}
        options={[
          { value: '', label: 'Any key' },
          ...(unknownKey ? [{ value: filters.keyId, label: filters.keyId }] : []),
          ...keys.map((k) => ({ value: k.id, label: k.name })),
        ]}
      />
      {textFilters.map((f) => (
        <div className="field" key={f.key}>
          <label htmlFor={`filter-${f.key}`}>{f.label}</label>
          <input id={`filter-${f.key}`} name={f.key} defaultValue={filters.texts[f.key]} autoComplete="off" />
        </div>
      ))}
      <button type="submit">Apply filters</button>
      <button type="button" className="secondary" onClick={props.onRefresh}>
        Refresh
      </button>
    </form>
  );
}

export function RecordsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const filters = filtersOf(query);
  const { serverId, keyId, outcome, texts } = filters;
  const filtered = Boolean(serverId || outcome || keyId || Object.values(texts).some(Boolean));
  const [servers] = useLoad(() => unwrap(client.GET('/mcp_manager', { params: { query: { limit: 100 } } })), [client]);
  // A key that may not list the workspace's keys (403) still filters by the key id in the address.
  const [keys] = useLoad(
    () =>
      unwrap(client.GET('/api_keys')).catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 403) return null;
        throw err;
      }),
    [client],
  );
  const [records, reload] = useLoad(
    () =>
      unwrap(
        client.GET('/execution_records', {
          params: {
            query: {
              limit: 50,
              ...(serverId ? { server_id: serverId } : {}),
              ...(outcome ? { outcome } : {}),
              ...(keyId ? { key_id: keyId } : {}),
              ...Object.fromEntries(Object.entries(texts).filter(([, v]) => v)),
            },
          },
        }),
      ).then((r) => r.data),
    [client, serverId, outcome, keyId, texts.tool, texts.username, texts.subject],
  );
  const serverList = servers.state === 'done' ? servers.data.data : [];
  const serverName = (id: string) => serverList.find((s) => s.id === id)?.name ?? id;
  const columns: Column<Summary>[] = [
    {
      header: 'Started',
      cell: (r) => <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleString()}</Link>,
    },
    { header: 'Tool', cell: (r) => <code>{r.tool}</code> },
    { header: 'Server', cell: (r) => serverName(r.server_id) },
    { header: 'Caller', cell: (r) => callerText(r.caller) },
    { header: 'Outcome', cell: (r) => <OutcomeCell outcome={r.outcome} errorCode={r.error_code} /> },
    { header: 'Duration', cell: (r) => ms(r.duration_ms) },
  ];
  return (
    <>
      <h1>Execution records</h1>
      <FilterForm
        query={query}
        filters={filters}
        servers={serverList}
        keys={keys.state === 'done' && keys.data ? keys.data.data : []}
        onRefresh={reload}
      />
      <ResourceTable
        loaded={records}
        what="the execution records"
        columns={columns}
        caption="Execution records, newest first"
        empty={`No execution record${filtered ? ' matches these filters' : ' yet: call a tool'}.`}
      />
    </>
  );
}

type Node = Record<string, unknown> & { kind?: string; children?: unknown };

function nodeTitle(n: Node): string {
  switch (n.kind) {
    case 'flow.run':
      return `flow.run ${String(n.workflowId ?? '')}`;
    case 'step.run':
      return `step.run ${String(n.stepId ?? '')}`;
    case 'action.run':
      return `action.run ${String(n.method ?? '')} ${String(n.url ?? n.urlTemplate ?? '')}`;
    default:
      return String(n.kind ?? 'node');
  }
}

function nodeFacts(n: Node): string[] {
  const facts: string[] = [];
  const add = (label: string, v: unknown) => {
    if (v !== undefined && v !== null && v !== '') facts.push(`${label} ${String(v)}`);
  };
  add('status', n.status);
  add('outcome', n.outcome);
  add('HTTP', n.httpStatus);
  add('attempts', n.attempts);
  add('retries', n.retries);
  add('attempt', n.attempt);
  add('action', n.action);
  add('target', n.target);
  if (typeof n.durationMs === 'number') facts.push(ms(n.durationMs));
  add('error', n.errorCode ?? n.error);
  return facts;
}

function Tree({ nodes }: { nodes: unknown[] }) {
  return (
    <ol className="timeline">
      {nodes.map((raw, i) => {
        const n = (raw ?? {}) as Node;
        const children = Array.isArray(n.children) ? (n.children as unknown[]) : [];
        const bad = n.status === 'error' || n.outcome === 'failure' || n.outcome === 'failed';
        return (
          <li key={i} className={`node ${String(n.kind ?? '').replace('.', '-')}${bad ? ' bad' : ''}`}>
            <div className="node-title">{nodeTitle(n)}</div>
            <div className="node-facts">{nodeFacts(n).join(' · ')}</div>
            {children.length > 0 && <Tree nodes={children} />}
          </li>
        );
      })}
    </ol>
  );
}

function Steps({ steps }: { steps: unknown[] }) {
  return (
    <ol className="timeline">
      {steps.map((raw, i) => {
        const s = (raw ?? {}) as Record<string, unknown>;
        const status = typeof s.status === 'number' ? s.status : null;
        return (
          <li key={i} className={`node step${status !== null && status >= 400 ? ' bad' : ''}`}>
            <div className="node-title">
              {String(s.name ?? `step ${i + 1}`)}: {String(s.method ?? '')} {String(s.url ?? s.urlTemplate ?? '')}
            </div>
            <div className="node-facts">
              HTTP {status ?? 'no answer'} · {String(s.outcome ?? '')} · attempt {String(s.attempt ?? 1)} ·{' '}
              {ms(s.durationMs)}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

type Exchange = {
  request?: { headers?: Record<string, unknown>; body?: unknown };
  response?: { status?: unknown; contentType?: unknown; body?: unknown; truncated?: unknown };
};
type Capture = Exchange & { title: string; method: string; url: string };

/** The captures of a debug session, each with the method and URL of its request (from the record's steps). */
function capturesOf(debug: Record<string, unknown>, steps: unknown[]): Capture[] {
  const stepList = steps.map((s) => (s ?? {}) as Record<string, unknown>);
  const where = (step: Record<string, unknown> | undefined) => ({
    method: String(step?.method ?? ''),
    url: String(step?.url ?? step?.urlTemplate ?? ''),
  });
  if (Array.isArray(debug.steps))
    return (debug.steps as (Exchange & { name?: unknown; attempt?: unknown })[]).map((c, i) => {
      const step = stepList.find((s) => s.name === c.name && (s.attempt ?? 1) === (c.attempt ?? 1)) ?? stepList[i];
      return {
        ...c,
        ...where(step),
        title: `${String(c.name ?? `Request ${i + 1}`)}${typeof c.attempt === 'number' ? `, attempt ${c.attempt}` : ''}`,
      };
    });
  return [{ ...(debug as Exchange), ...where(stepList.at(-1)), title: 'The HTTP exchange' }];
}

/** A JSON body indented; anything else (or a body cut at the capture limit) as it is. */
function pretty(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

function Body({ body, label }: { body: unknown; label: string }) {
  if (body === undefined || body === null || body === '') return <p className="hint">No body.</p>;
  return (
    <pre tabIndex={0} aria-label={label}>
      {typeof body === 'string' ? pretty(body) : JSON.stringify(body, null, 2)}
    </pre>
  );
}

const headerColumns: Column<[string, unknown]>[] = [
  { header: 'Header', rowHeader: true, cell: ([k]) => <code>{k}</code> },
  { header: 'Value', cell: ([, v]) => <code>{String(v)}</code> },
];

function DebugCaptures({ debug, steps }: { debug: Record<string, unknown>; steps: unknown[] }) {
  const captures = capturesOf(debug, steps);
  return (
    <Section id="debug" title="Debug captures">
      <p className="hint">
        Captured during debug session <code>{String(debug.sessionId ?? '')}</code>: credential headers are shown as{' '}
        <code>[redacted]</code> and secret values are scrubbed; bodies are size-capped.
      </p>
      {captures.map((c, i) => {
        const headers = Object.entries(c.request?.headers ?? {});
        const res = c.response;
        return (
          <article key={i} className="capture" aria-labelledby={`capture-${i}`}>
            <h3 id={`capture-${i}`}>{c.title}</h3>
            <h4>Request</h4>
            <dl className="facts">
              <dt>Method</dt>
              <dd>{c.method || '—'}</dd>
              <dt>URL</dt>
              <dd>
                <code data-testid="capture-url">{c.url || '—'}</code>
              </dd>
            </dl>
            {headers.length === 0 ? (
              <p className="hint">No headers.</p>
            ) : (
              <ResourceTable
                rows={headers}
                columns={headerColumns}
                rowKey={([k]) => k}
                caption={`Request headers of ${c.title}`}
              />
            )}
            <Body body={c.request?.body} label={`Request body of ${c.title}`} />
            <h4>Response</h4>
            {res ? (
              <>
                <dl className="facts">
                  <dt>Status</dt>
                  <dd data-testid="capture-status">HTTP {String(res.status ?? '—')}</dd>
                  <dt>Content type</dt>
                  <dd>{String(res.contentType ?? '—')}</dd>
                </dl>
                <Body body={res.body} label={`Response body of ${c.title}`} />
                {res.truncated === true && <p className="hint">The body was cut at the capture limit.</p>}
              </>
            ) : (
              <p>No response (the request failed before one came).</p>
            )}
          </article>
        );
      })}
      <details>
        <summary>The capture as JSON</summary>
        <Json value={debug} label="Debug capture (JSON)" />
      </details>
    </Section>
  );
}

export function RecordPage({ client, id }: { client: ManagementClient; id: string }) {
  const [record] = useLoad(
    () => unwrap(client.GET('/execution_records/{id}', { params: { path: { id } } })),
    [client, id],
  );
  return (
    <>
      <p className="crumbs">
        <Link href="/records">Execution records</Link> / {id}
      </p>
      <Show loaded={record} what="the execution record">
        {(r) => (
          <>
            <h1>
              <code>{r.tool}</code>: <span className={`outcome ${r.outcome}`}>{r.outcome}</span>
            </h1>
            <dl className="facts">
              <dt>Started</dt>
              <dd>{new Date(r.started_at).toLocaleString()}</dd>
              <dt>Duration</dt>
              <dd>{ms(r.duration_ms)}</dd>
              <dt>Server</dt>
              <dd>
                <Link href={`/servers/${r.server_id}`}>{r.server_id}</Link> (catalog version {r.catalog_version})
              </dd>
              <dt>Caller</dt>
              <dd>{callerText(r.caller)}</dd>
              {r.error_code && (
                <>
                  <dt>Error</dt>
                  <dd>
                    <code>{r.error_code}</code> {r.message}
                  </dd>
                </>
              )}
              {r.shape && (
                <>
                  <dt>Shaped</dt>
                  <dd>
                    {r.shape.bytes_before.toLocaleString()} → {r.shape.bytes_after.toLocaleString()} bytes (
                    {Math.round(
                      (100 * (r.shape.bytes_before - r.shape.bytes_after)) / Math.max(1, r.shape.bytes_before),
                    )}{' '}
                    % saved by the result shape)
                  </dd>
                </>
              )}
              {r.trace_id && (
                <>
                  <dt>Trace</dt>
                  <dd>
                    <code>{r.trace_id}</code>
                    <JaegerLink traceId={r.trace_id} />
                  </dd>
                </>
              )}
            </dl>
            <h2>Timeline</h2>
            {r.tree && r.tree.length > 0 ? (
              <Tree nodes={r.tree} />
            ) : r.steps.length > 0 ? (
              <Steps steps={r.steps} />
            ) : (
              <Empty>No request was made (the call was refused or failed before any).</Empty>
            )}
            {r.debug && <DebugCaptures debug={r.debug} steps={r.steps} />}
          </>
        )}
      </Show>
    </>
  );
}
