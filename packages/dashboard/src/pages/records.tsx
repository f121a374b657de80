import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { OutcomeCell } from '../components/debug-sessions.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad } from '../ui.tsx';
import { RecordFilters, filtersOf } from './records/filters.tsx';
import { DebugCaptures } from './records/debug-captures.tsx';
import { CallSession } from './records/session.tsx';
import { Steps, Tree, ms } from './records/steps.tsx';
import { Crumbs } from '../components/section.tsx';
import { ServerLink } from '../components/server-name.tsx';

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

type Summary = Schemas['ExecutionRecordSummary'];

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
      <RecordFilters
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

export function RecordPage({ client, id }: { client: ManagementClient; id: string }) {
  const [record] = useLoad(
    () => unwrap(client.GET('/execution_records/{id}', { params: { path: { id } } })),
    [client, id],
  );
  return (
    <>
      <Crumbs up="/records" label="Execution records">
        {id}
      </Crumbs>
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
                <ServerLink client={client} id={r.server_id} /> (catalog version {r.catalog_version})
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
            <CallSession client={client} record={r} />
            {r.debug && <DebugCaptures debug={r.debug} steps={r.steps} />}
          </>
        )}
      </Show>
    </>
  );
}
