import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { SelectField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link, navigate } from '../router.tsx';
import { useLoad, when } from '../ui.tsx';
import { ChangeRequestDetail, partyText } from './change-requests/detail.tsx';

type ChangeRequest = Schemas['ChangeRequest'];
type State = ChangeRequest['state'];

const states: readonly State[] = ['pending', 'approved', 'applied', 'denied', 'expired', 'stale', 'failed'];

/** The state filter in the address (`?state=`): pending unless it says another, or `all`. */
function stateOf(query: URLSearchParams): State | 'all' {
  const s = query.get('state') ?? 'pending';
  return s === 'all' || states.includes(s as State) ? (s as State | 'all') : 'pending';
}

const columns: Column<ChangeRequest>[] = [
  {
    header: 'Change',
    rowHeader: true,
    cell: (r) => (
      <Link href={`/change-requests/${r.id}`}>
        <code>{r.operation}</code>
      </Link>
    ),
  },
  { header: 'Loosens', cell: (r) => r.loosens.join(', ') },
  { header: 'Requested by', cell: (r) => partyText(r.requester) },
  { header: 'State', cell: (r) => <span data-state={r.state}>{r.state}</span> },
  { header: 'Requested', cell: (r) => when(r.requestedAt) },
  { header: 'Expires', cell: (r) => when(r.expiresAt) },
];

/**
 * Changes that loosen a rule and wait for another person's approval (four eyes on loosening, ADR 0079): the list by
 * state, and one request opened (`/change-requests/<id>`): the exact change as a diff, approved or denied by an
 * approver the workspace's setting names, never by its requester.
 */
export function ChangeRequestsPage({
  client,
  id,
  query,
}: {
  client: ManagementClient;
  id?: string | undefined;
  query: URLSearchParams;
}) {
  const state = stateOf(query);
  const [loaded, reload] = useLoad(
    () =>
      id
        ? Promise.resolve({ data: [] })
        : unwrap(
            client.GET('/change_requests', {
              params: { query: { limit: 100, ...(state === 'all' ? {} : { state }) } },
            }),
          ),
    [client, state, id],
  );
  if (id) return <ChangeRequestDetail client={client} id={id} />;
  const rows = loaded.state === 'done' ? { ...loaded, data: loaded.data.data } : loaded;
  return (
    <>
      <h1>Change requests</h1>
      <FourEyesState client={client} />
      <div className="filters">
        <SelectField
          inline
          id="change-requests-state"
          label="State"
          value={state}
          onValue={(v) => navigate(v === 'pending' ? '/change-requests' : `/change-requests?state=${v}`)}
          options={[...states.map((s) => ({ value: s, label: s })), { value: 'all', label: 'all' }]}
        />
        <button type="button" className="secondary" onClick={reload}>
          Refresh
        </button>
      </div>
      <ResourceTable
        loaded={rows}
        what="the change requests"
        columns={columns}
        rowData={(r) => ({ id: r.id, state: r.state })}
        caption="Change requests, newest first"
        empty={
          state === 'pending'
            ? 'No change waits for an approval.'
            : `No ${state === 'all' ? '' : `${state} `}change request.`
        }
      />
    </>
  );
}

/** What the workspace's four-eyes setting does now: on, off, or, unread, what it would do. */
function FourEyesState({ client }: { client: ManagementClient }) {
  const [setting] = useLoad(() => unwrap(client.GET('/change_approvals/settings')), [client]);
  const held =
    'a change that loosens a rule (a policy widened, a quota raised, a confirmation lifted…) changes nothing until ' +
    'another approver approves it; it is then applied once, as its requester made it.';
  if (setting.state === 'done' && setting.data.enabled)
    return <p className="hint">Four eyes on loosening is on: {held}</p>;
  if (setting.state === 'done')
    return (
      <p className="hint">
        Four eyes on loosening is off: every change applies at once and no change request is made (the list keeps the
        requests made while it was on). Turned on (<code>PUT /change_approvals/settings</code>), {held}
      </p>
    );
  return <p className="hint">When four eyes on loosening is on, {held}</p>;
}
