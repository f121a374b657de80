import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { OutcomeCell } from '../components/debug-sessions.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { Empty, Show, useLoad, when } from '../ui.tsx';

// MCP Events (ADR 0081, docs/events.md "Seeing subscriptions"): the workspace's subscriptions with their webhook
// deliveries counted, one subscription's latest deliveries, and the providers' deliveries the worker refused.

type Subscription = Schemas['EventSubscriptionSummary'];
type Delivery = Schemas['EventDeliveryList']['data'][number];
type RecordSummary = Schemas['ExecutionRecordSummary'];

/** The providers whose refused deliveries are recorded as `inbound/<provider>` (contracts `WebhookProvider`). */
const providers = ['github', 'stripe', 'slack', 'standard', 'jira', 'google_calendar'];

function principalText(p: Subscription['principal']): string {
  const who = p.keyName
    ? `API key ${p.keyName}`
    : p.keyId
      ? `API key ${p.keyId}`
      : p.subject
        ? `OAuth ${p.subject}`
        : 'anonymous';
  return p.username ? `${who}, for user ${p.username}` : who;
}

/** A count of failures, marked when there are any. */
function Failed({ n }: { n: number }) {
  return n > 0 ? <span className="outcome failed">{n}</span> : <>0</>;
}

const subscriptionColumns: Column<Subscription>[] = [
  {
    header: 'Event type',
    rowHeader: true,
    cell: (s) => <Link href={`/events?subscription=${encodeURIComponent(s.id)}`}>{s.name}</Link>,
  },
  { header: 'Server', cell: (s) => <Link href={`/servers/${s.serverId}`}>{s.serverName ?? s.serverId}</Link> },
  { header: 'Principal', cell: (s) => principalText(s.principal) },
  { header: 'Delivery', cell: (s) => s.delivery },
  { header: 'Callback', cell: (s) => (s.callbackOrigin ? <code>{s.callbackOrigin}</code> : '—') },
  { header: 'Expires', cell: (s) => (s.expired ? `expired ${when(s.expiresAt)}` : when(s.expiresAt)) },
  { header: 'Given', cell: (s) => s.streamLength },
  { header: 'Delivered', cell: (s) => s.delivered },
  { header: 'Failed', cell: (s) => <Failed n={s.failed} /> },
  { header: 'Last delivery', cell: (s) => when(s.lastDeliveryAt) },
  { header: 'Last error', cell: (s) => (s.lastError ? <code className="outcome failed">{s.lastError}</code> : '—') },
];

const deliveryColumns: Column<Delivery>[] = [
  { header: 'Time', cell: (d) => <Link href={`/records/${d.recordId}`}>{new Date(d.at).toLocaleString()}</Link> },
  { header: 'Event id', cell: (d) => <code>{d.eventId}</code> },
  {
    header: 'Outcome',
    cell: (d) => <OutcomeCell outcome={d.outcome === 'delivered' ? 'success' : 'failed'} errorCode={d.errorCategory} />,
  },
  { header: 'Attempts', cell: (d) => d.attempts },
  { header: 'Duration', cell: (d) => `${Math.round(d.durationMs)} ms` },
];

const refusalColumns: Column<RecordSummary>[] = [
  { header: 'Time', cell: (r) => <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleString()}</Link> },
  { header: 'Provider', cell: (r) => r.tool.replace(/^inbound\//, '') },
  { header: 'Reason', cell: (r) => <OutcomeCell outcome={r.outcome} errorCode={r.error_code} /> },
  { header: 'Server', cell: (r) => <Link href={`/servers/${r.server_id}`}>{r.server_id}</Link> },
];

function Deliveries({ client, id }: { client: ManagementClient; id: string }) {
  const [deliveries] = useLoad(
    () =>
      unwrap(client.GET('/event_subscriptions/{id}/deliveries', { params: { path: { id }, query: { limit: 50 } } })),
    [client, id],
  );
  return (
    <section aria-labelledby="event-deliveries">
      <h2 id="event-deliveries">
        Deliveries of <code>{id}</code>
      </h2>
      <Show loaded={deliveries} what="the deliveries">
        {(d) => (
          <ResourceTable
            rows={d.data}
            rowKey={(r) => r.recordId}
            columns={deliveryColumns}
            label="Deliveries"
            rowData={(r) => ({ outcome: r.outcome })}
            empty={<Empty>No webhook delivery recorded (poll and push subscriptions read their stream).</Empty>}
          />
        )}
      </Show>
    </section>
  );
}

/** The refused deliveries of every provider (bad signature, replay, stale, no secret), newest first. */
async function inboundRefusals(client: ManagementClient): Promise<RecordSummary[]> {
  const pages = await Promise.all(
    providers.map((p) =>
      unwrap(
        client.GET('/execution_records', {
          params: { query: { tool: `inbound/${p}`, outcome: 'rejected', limit: 20 } },
        }),
      ),
    ),
  );
  return pages
    .flatMap((p) => p.data)
    .sort((a, b) => b.started_at.localeCompare(a.started_at))
    .slice(0, 50);
}

export function EventsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const selected = query.get('subscription');
  const [subscriptions] = useLoad(() => unwrap(client.GET('/event_subscriptions')).then((r) => r.data), [client]);
  const [refusals] = useLoad(() => inboundRefusals(client), [client]);
  return (
    <>
      <h1>Events</h1>
      <p className="hint">
        MCP Events subscriptions of this workspace: who subscribed to which event type, how it is delivered, and what
        its webhook deliveries did. Failures are marked.
      </p>
      <section aria-labelledby="event-subscriptions">
        <h2 id="event-subscriptions">Subscriptions</h2>
        <ResourceTable
          loaded={subscriptions}
          what="the subscriptions"
          columns={subscriptionColumns}
          label="Event subscriptions"
          rowData={(s) => ({ failing: s.failed > 0 ? 'yes' : 'no' })}
          empty={
            <Empty>No event subscription: agents subscribe with events/poll, events/stream or events/subscribe.</Empty>
          }
        />
      </section>
      {selected && <Deliveries client={client} id={selected} />}
      <section aria-labelledby="inbound-refusals">
        <h2 id="inbound-refusals">Refused inbound deliveries</h2>
        <ResourceTable
          loaded={refusals}
          what="the refused deliveries"
          columns={refusalColumns}
          label="Refused inbound deliveries"
          empty={<Empty>No provider delivery was refused.</Empty>}
        />
      </section>
    </>
  );
}
