import type { ManagementClient } from '@toolplane/client';
import { unwrap } from '../api.ts';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { WouldBeDecisions } from '../components/would-be-decisions.tsx';
import { Link } from '../router.tsx';
import { Show } from '../ui.tsx';
import { RowDeleteButton, type RowDeletion } from '../components/delete-button.tsx';
import { byId, FormAndList, serverList, useLists, useRowDelete } from '../components/list-page.tsx';
import { type Approvers, type Key, type Policy } from './access-policies/outcome.tsx';
import { CreatePolicy, principalTypes, type Principal, type Server } from './access-policies/create.tsx';

const typeLabel = (t: Principal['type']) => principalTypes.find((p) => p.type === t)?.label ?? t;

function PoliciesTable(props: { policies: Policy[]; keys: Key[]; servers: Server[]; deletion: RowDeletion }) {
  const { keys, servers } = props;
  const keyName = (id: string) => keys.find((k) => k.id === id)?.name ?? id;
  const approversOf = ({ apiKeys = [], subjects = [], groups = [], people = [] }: Approvers) =>
    [
      ...apiKeys.map((k) => `API key ${keyName(k)}`),
      ...subjects.map((x) => `OAuth subject ${x}`),
      ...groups.map((x) => `OAuth group ${x}`),
      ...people.map((x) => `person ${x}`),
    ].join(', ');
  const principal = (p: Principal) => `${typeLabel(p.type)} ${p.type === 'api_key' ? keyName(p.value) : p.value}`;
  const columns: Column<Policy>[] = [
    { header: 'Name', cell: (p) => p.name },
    { header: 'Principals', cell: (p) => p.principals.map(principal).join(', ') },
    {
      header: 'Servers',
      cell: (p) =>
        p.servers.map((id, i) => (
          <span key={id}>
            {i > 0 && ', '}
            {id === '*' ? (
              'every server'
            ) : (
              <Link href={`/servers/${id}`}>{servers.find((s) => s.id === id)?.name ?? id}</Link>
            )}
          </span>
        )),
    },
    { header: 'Tools', cell: (p) => p.tools.join(', ') },
    {
      header: 'Condition',
      cell: (p) =>
        p.condition === null ? (
          'none'
        ) : (
          <>
            <code>{p.condition}</code>
            {p.onFalse === 'require_approval' && p.approval
              ? `; when false: requires approval by ${approversOf(p.approval.approvers)} (${p.approval.approvals} needed)`
              : '; when false: denied'}
            {p.enforce ? '' : ' (log only: refuses nothing, asks no approval)'}
          </>
        ),
    },
  ];
  return (
    <ResourceTable
      rows={props.policies}
      columns={columns}
      caption="Access policies of the workspace"
      empty="No access policy: every API key reaches every server of the workspace."
      actions={(p) => <RowDeleteButton row={p} deletion={props.deletion} then="Edges apply it within a second." />}
    />
  );
}

export function AccessPoliciesPage({ client }: { client: ManagementClient }) {
  const [loaded, reload] = useLists(client, (c) => ({
    policies: unwrap(c.GET('/access_policies')),
    keys: unwrap(c.GET('/api_keys')),
    servers: serverList(c),
  }));
  const { error, ...deletion } = useRowDelete((id) => unwrap(client.DELETE('/access_policies/{id}', byId(id))), reload);
  return (
    <>
      <h1>Access policies</h1>
      <p className="hint">
        Allow rules: what no policy grants is denied, except that an API key no policy names keeps access to every
        server of its workspace.
      </p>
      <Show loaded={loaded} what="the access policies">
        {({ policies, keys, servers }) => (
          <>
            <FormAndList
              form={<CreatePolicy client={client} keys={keys} servers={servers} onCreated={reload} />}
              section={{ id: 'policies', title: 'Policies', failed: 'Not deleted' }}
              failure={error}
            >
              <PoliciesTable policies={policies} keys={keys} servers={servers} deletion={deletion} />
            </FormAndList>
            <WouldBeDecisions client={client} action="access.would_refuse" rules={policies} />
          </>
        )}
      </Show>
    </>
  );
}
