import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { useLoad } from '../ui.tsx';
import { FilterForm, FilterSelect, filtersIn } from '../components/filters.tsx';

type AuditEvent = Schemas['AuditEvent'];

const outcomes = ['success', 'refused', 'failed', 'accepted', 'declined', 'cancelled'] as const;

/** The text filters: one value each, applied with the form. */
const textFilters = [
  { key: 'actor', label: 'Actor (key, subject, person)' },
  { key: 'action', label: 'Action (server.update, server.*)' },
  { key: 'resource_type', label: 'Resource type' },
  { key: 'resource_id', label: 'Resource id' },
] as const;
const filtersOf = (query: URLSearchParams) => {
  const { choice, texts } = filtersIn(query, { key: 'outcome', allowed: outcomes }, textFilters);
  return { outcome: choice, texts };
};

function actorText(a: AuditEvent['actor']): string {
  const kind = {
    api_key: 'API key',
    oauth_subject: 'OAuth',
    person: 'Person',
    anonymous: 'Anonymous',
    system: 'Toolplane',
  };
  return [kind[a.type], a.name ?? a.id].filter(Boolean).join(' ');
}

function value(v: unknown): string {
  if (v === null || v === undefined) return '—';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The fields the event changed: one row each, before → after (a secret shows only as "changed"). */
function Diff({ event }: { event: AuditEvent }) {
  const changes = Object.entries(event.changes ?? {});
  const details = event.details ? Object.entries(event.details) : [];
  if (changes.length === 0 && details.length === 0) return <>—</>;
  return (
    <details>
      <summary>
        {changes.length > 0 ? `${changes.length} field${changes.length === 1 ? '' : 's'} changed` : 'Details'}
      </summary>
      {changes.length > 0 && (
        <table className="diff" aria-label={`Changes of event ${event.seq}`}>
          <thead>
            <tr>
              <th scope="col">Field</th>
              <th scope="col">Before</th>
              <th scope="col">After</th>
            </tr>
          </thead>
          <tbody>
            {changes.map(([field, c]) => (
              <tr key={field}>
                <th scope="row">
                  <code>{field}</code>
                </th>
                <td>
                  <code>{value(c.before)}</code>
                </td>
                <td>
                  <code>{value(c.after)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {details.length > 0 && (
        <dl>
          {details.map(([k, v]) => (
            <div key={k}>
              <dt>{k}</dt>
              <dd>
                <code>{value(v)}</code>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </details>
  );
}

function AuditFilters({ query, outcome, texts }: { query: URLSearchParams } & ReturnType<typeof filtersOf>) {
  return (
    <FilterForm
      path="/audit"
      query={query}
      idPrefix="audit"
      texts={textFilters}
      values={texts}
      selects={(set) => (
        <FilterSelect
          id="audit-outcome"
          label="Outcome"
          value={outcome}
          any="Any outcome"
          options={outcomes}
          onValue={(v) => set('outcome', v)}
        />
      )}
    />
  );
}

const columns: Column<AuditEvent>[] = [
  { header: 'When', cell: (e) => new Date(e.at).toLocaleString() },
  { header: '#', cell: (e) => e.seq },
  { header: 'Actor', cell: (e) => actorText(e.actor) },
  { header: 'Action', cell: (e) => <code>{e.action}</code>, rowHeader: true },
  { header: 'Resource', cell: (e) => `${e.resource.type}${e.resource.id ? ` ${e.resource.id}` : ''}` },
  { header: 'Outcome', cell: (e) => <span className={`outcome ${e.outcome}`}>{e.outcome}</span> },
  { header: 'From', cell: (e) => e.source.clientAddress ?? '—' },
  { header: 'Changes', cell: (e) => <Diff event={e} /> },
];

/**
 * The audit trail (scope `audit`): every change, sign-in, refusal and confirmation of the workspace, newest first,
 * with the fields each change made. A credential without the scope is told so.
 */
export function AuditPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const filters = filtersOf(query);
  const { outcome, texts } = filters;
  const [events] = useLoad(
    () =>
      unwrap(
        client.GET('/audit_events', {
          params: {
            query: {
              limit: 100,
              ...(outcome ? { outcome } : {}),
              ...Object.fromEntries(Object.entries(texts).filter(([, v]) => v)),
            },
          },
        }),
      ).then(
        (r) => r.data,
        (err: unknown) => {
          if (err instanceof ApiError && err.status === 403)
            throw new Error('This credential cannot read the audit trail: it needs the "audit" scope.');
          throw err;
        },
      ),
    [client, outcome, texts.actor, texts.action, texts.resource_type, texts.resource_id],
  );
  const filtered = Boolean(outcome || Object.values(texts).some(Boolean));
  return (
    <>
      <h1>Audit trail</h1>
      <p className="lead">
        Every change to the workspace, sign-in, refused request and person’s confirmation, newest first. Each event is
        chained to the one before it by its hash: <code>toolplane audit verify</code> checks the chain.{' '}
        <Link href="/audit/exporters">Audit exporters</Link> push it to a SIEM and show how far each receiver got.
      </p>
      <AuditFilters query={query} {...filters} />
      <ResourceTable
        loaded={events}
        what="the audit trail"
        columns={columns}
        caption="Audit events, newest first"
        empty={`No audit event${filtered ? ' matches these filters' : ' yet'}.`}
      />
    </>
  );
}
