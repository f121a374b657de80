import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { partyText, StateFilter, stateOf, stateQuery } from '../components/decisions.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { useLoad, when } from '../ui.tsx';
import { useMay } from '../powers.tsx';
import { ChangeRequestDetail } from './change-requests/detail.tsx';

type ChangeRequest = Schemas['ChangeRequest'];
type State = ChangeRequest['state'];

const states: readonly [State, ...State[]] = ['pending', 'approved', 'applied', 'denied', 'expired', 'stale', 'failed'];

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
  const state = stateOf(query, states);
  const [loaded, reload] = useLoad(
    () =>
      id
        ? Promise.resolve({ data: [] })
        : unwrap(client.GET('/change_requests', { params: { query: stateQuery(state) } })),
    [client, state, id],
  );
  if (id) return <ChangeRequestDetail client={client} id={id} />;
  const rows = loaded.state === 'done' ? { ...loaded, data: loaded.data.data } : loaded;
  return (
    <>
      <h1>Change requests</h1>
      <FourEyesState client={client} />
      <StateFilter
        id="change-requests-state"
        path="/change-requests"
        states={states}
        value={state}
        onRefresh={reload}
      />
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

/**
 * What the workspace's four-eyes setting does now: on, off, or, unread (a caller who may not read the policies' area,
 * where the setting is, such as an approver), what it would do.
 */
function FourEyesState({ client }: { client: ManagementClient }) {
  const mayRead = useMay('policies', 'read');
  const [setting] = useLoad(
    () => (mayRead ? unwrap(client.GET('/change_approvals/settings')) : Promise.reject(new Error('not readable'))),
    [client, mayRead],
  );
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
