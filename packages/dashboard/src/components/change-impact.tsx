import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { namesOf, policyFile } from '../rule-files.ts';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';
import { serverList } from './list-page.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';
import { principalText, verdictText } from './who-can-reach.tsx';

type ChangeRequest = Schemas['ChangeRequest'];
type Newly = NonNullable<Schemas['Reachability']['change']>['newly_reachable'][number];
type Row = Newly & { server: string; tool: string };

/** A change request on an access policy: its creation or an edit (a deletion lets nothing new through). */
const policyChange = /^(POST \/access_policies|PATCH \/access_policies\/([^/]+))$/;
const policyFields = ['name', 'principals', 'servers', 'tools', 'condition', 'onFalse', 'approval', 'enforce'];

/** The policy as the change would leave it: the stored one (an edit) with the request's fields over it. */
async function proposedPolicy(client: ManagementClient, request: ChangeRequest) {
  const id = policyChange.exec(request.operation)?.[2];
  const stored = id ? await unwrap(client.GET('/access_policies/{id}', { params: { path: { id } } })) : {};
  const merged: Record<string, unknown> = { ...stored, ...(request.body as Record<string, unknown>) };
  const kept = policyFields.filter((k) => merged[k] !== undefined && merged[k] !== null);
  return Object.fromEntries(kept.map((k) => [k, merged[k]])) as Schemas['AccessPolicyBody'];
}

/** What the change newly lets through on each server and tool the policy names (one reachability query each). */
async function impactOf(client: ManagementClient, request: ChangeRequest): Promise<Row[]> {
  const policy = await proposedPolicy(client, request);
  const [servers, keys] = await Promise.all([serverList(client), unwrap(client.GET('/api_keys'))]);
  const file = policyFile(policy, namesOf({ servers: servers.data, apiKeys: keys.data }));
  const rows: Row[] = [];
  for (const server of policy.servers.filter((s) => s !== '*'))
    for (const tool of policy.tools.filter((t) => t !== '*')) {
      const body = { server, tool, change: { files: [file] } };
      const r = await unwrap(client.POST('/governance/reachability', { body }));
      rows.push(...(r.change?.newly_reachable ?? []).map((n) => ({ ...n, server: r.server.name, tool })));
    }
  return rows;
}

const columns: Column<Row>[] = [
  { header: 'Who', cell: (r) => principalText(r.principal), rowHeader: true },
  { header: 'Tool', cell: (r) => `${r.tool} on ${r.server}` },
  { header: 'Newly when', cell: (r) => <code>{r.condition}</code> },
  { header: 'Without a person', cell: (r) => verdictText(r.without_person) },
  { header: 'With a person', cell: (r) => verdictText(r.with_person) },
];

/**
 * A change request's impact (docs/governance.md "Who can reach what"): for a change of an access policy, each
 * principal and tool a call of which goes through after the change and did not before, for any arguments, with the
 * condition of those calls and a witness (`POST /governance/reachability` with the change as the backtest's file).
 * Tools the policy names one by one (a policy on every tool: ask on each tool's server page).
 */
export function ChangeImpact({ client, request }: { client: ManagementClient; request: ChangeRequest }) {
  const action = useAction();
  const [rows, setRows] = useState<Row[] | null>(null);
  if (!policyChange.test(request.operation)) return null;
  const ask = () => action.run(() => impactOf(client, request), { then: setRows, failed: 'Not answered' });
  return (
    <section aria-labelledby="change-impact">
      <h2 id="change-impact">What it newly lets through</h2>
      <button type="button" className="secondary" onClick={ask} disabled={action.busy}>
        {action.busy ? 'Asking the solver…' : 'What does it newly let through?'}
      </button>
      <ActionError action={action} title="Not answered" />
      {rows && (
        <ResourceTable
          rows={rows}
          rowKey={(r) => `${r.server}:${r.tool}:${r.principal.key_id ?? r.principal.username}`}
          columns={columns}
          caption="Newly reachable"
          empty="Nothing: no call goes through after the change that did not before."
        />
      )}
    </section>
  );
}
