import type { ManagementClient } from '@toolplane/client';
import { useState } from 'react';
import { unwrap, type Schemas } from '../api.ts';
import { Readable } from '../powers.tsx';
import { namesOf, policyFile } from '../rule-files.ts';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';
import { serverList } from './list-page.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';

type Reach = Schemas['Reachability'];
type Row = Reach['principals'][number];
type Verdict = Row['without_person'];

/** A principal as the answer names it. */
function principalText(p: Row['principal']): string {
  if (p.type === 'api_key') return `API key ${p.key_name ?? p.key_id}`;
  return `person ${p.username}${p.groups?.length ? ` (${p.groups.join(', ')})` : ''}`;
}

/** A verdict in words: yes with its witness's arguments, no with the proof, undecided with why. */
function verdictText(v: Verdict): string {
  if (v.answer === 'yes')
    return `yes${v.needs?.length ? ` after ${v.needs.join(', ')}` : ''}, e.g. ${JSON.stringify(v.witness?.args ?? {})}`;
  if (v.answer === 'no') return `no (${v.proof}${v.why ? `: ${v.why}` : ''})`;
  return `undecided: ${v.why}`;
}

type Answered = Pick<Row, 'principal' | 'without_person' | 'with_person'>;

/** A table's columns around `middle`: who, then the answers without a person and with one. */
function reachColumns<T extends Answered>(middle: Column<T>[]): Column<T>[] {
  return [
    { header: 'Who', cell: (r) => principalText(r.principal), rowHeader: true },
    ...middle,
    { header: 'Without a person', cell: (r) => verdictText(r.without_person) },
    { header: 'With a person', cell: (r) => verdictText(r.with_person) },
  ];
}

const columns = reachColumns<Row>([
  { header: 'When', cell: (r) => (r.granted ? <code>{r.condition}</code> : 'not granted') },
]);

/**
 * "Who can reach this" (docs/governance.md "Who can reach what"): each key and person the access policies name, the
 * condition their calls of the tool meet, and whether one goes through without a person and with one, answered by
 * `POST /governance/reachability` (the solver; changes nothing). Shown to those who read the access policies.
 */
export function WhoCanReach(props: { client: ManagementClient; serverId: string; tool: string }) {
  return (
    <Readable area="policies">
      <Ask {...props} />
    </Readable>
  );
}

function Ask({ client, serverId, tool }: { client: ManagementClient; serverId: string; tool: string }) {
  const action = useAction();
  const [answer, setAnswer] = useState<Reach | null>(null);
  const ask = () =>
    action.run(() => unwrap(client.POST('/governance/reachability', { body: { server: serverId, tool } })), {
      then: setAnswer,
      failed: 'Not answered',
    });
  return (
    <div className="who-can-reach">
      <button type="button" className="secondary" onClick={ask} disabled={action.busy}>
        {action.busy ? 'Asking the solver…' : `Who can reach ${tool}`}
      </button>
      <ActionError action={action} title={`Who can reach ${tool}: not answered`} />
      {answer && (
        <ResourceTable
          rows={answer.principals}
          rowKey={(r) => `${r.principal.type}:${r.principal.key_id ?? r.principal.username}`}
          columns={columns}
          caption={`Who can reach ${tool}`}
          empty="No key or person the access policies name."
          rowData={(r) => ({ answer: r.without_person.answer })}
        />
      )}
    </div>
  );
}

type ChangeRequest = Schemas['ChangeRequest'];
type Newly = NonNullable<Schemas['Reachability']['change']>['newly_reachable'][number];
type ImpactRow = Newly & { server: string; tool: string };

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
async function impactOf(client: ManagementClient, request: ChangeRequest): Promise<ImpactRow[]> {
  const policy = await proposedPolicy(client, request);
  const [servers, keys] = await Promise.all([serverList(client), unwrap(client.GET('/api_keys'))]);
  const file = policyFile(policy, namesOf({ servers: servers.data, apiKeys: keys.data }));
  const rows: ImpactRow[] = [];
  for (const server of policy.servers.filter((s) => s !== '*'))
    for (const tool of policy.tools.filter((t) => t !== '*')) {
      const body = { server, tool, change: { files: [file] } };
      const r = await unwrap(client.POST('/governance/reachability', { body }));
      rows.push(...(r.change?.newly_reachable ?? []).map((n) => ({ ...n, server: r.server.name, tool })));
    }
  return rows;
}

const impactColumns = reachColumns<ImpactRow>([
  { header: 'Tool', cell: (r) => `${r.tool} on ${r.server}` },
  { header: 'Newly when', cell: (r) => <code>{r.condition}</code> },
]);

/**
 * A change request's impact (docs/governance.md "Who can reach what"): for a change of an access policy, each
 * principal and tool a call of which goes through after the change and did not before, for any arguments, with the
 * condition of those calls and a witness (`POST /governance/reachability` with the change as the backtest's file).
 * Tools the policy names one by one (a policy on every tool: ask on each tool's server page).
 */
export function ChangeImpact(props: { client: ManagementClient; request: ChangeRequest }) {
  if (!policyChange.test(props.request.operation)) return null;
  return (
    <Readable area="policies">
      <Impact {...props} />
    </Readable>
  );
}

function Impact({ client, request }: { client: ManagementClient; request: ChangeRequest }) {
  const action = useAction();
  const [rows, setRows] = useState<ImpactRow[] | null>(null);
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
          columns={impactColumns}
          caption="Newly reachable"
          empty="Nothing: no call goes through after the change that did not before."
        />
      )}
    </section>
  );
}
