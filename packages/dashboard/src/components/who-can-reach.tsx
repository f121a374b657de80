import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';

type Reach = Schemas['Reachability'];
type Row = Reach['principals'][number];
type Verdict = Row['without_person'];

/** A principal as the answer names it. */
export function principalText(p: Row['principal']): string {
  if (p.type === 'api_key') return `API key ${p.key_name ?? p.key_id}`;
  return `person ${p.username}${p.groups?.length ? ` (${p.groups.join(', ')})` : ''}`;
}

/** A verdict in words: yes with its witness's arguments, no with the proof, undecided with why. */
export function verdictText(v: Verdict): string {
  if (v.answer === 'yes')
    return `yes${v.needs?.length ? ` after ${v.needs.join(', ')}` : ''}, e.g. ${JSON.stringify(v.witness?.args ?? {})}`;
  if (v.answer === 'no') return `no (${v.proof}${v.why ? `: ${v.why}` : ''})`;
  return `undecided: ${v.why}`;
}

const columns: Column<Row>[] = [
  { header: 'Who', cell: (r) => principalText(r.principal), rowHeader: true },
  { header: 'When', cell: (r) => (r.granted ? <code>{r.condition}</code> : 'not granted') },
  { header: 'Without a person', cell: (r) => verdictText(r.without_person) },
  { header: 'With a person', cell: (r) => verdictText(r.with_person) },
];

/**
 * "Who can reach this" (docs/governance.md "Who can reach what"): each key and person the access policies name, the
 * condition their calls of the tool meet, and whether one goes through without a person and with one, answered by
 * `POST /governance/reachability` (the solver; changes nothing). A caller the API refuses sees why.
 */
export function WhoCanReach({ client, serverId, tool }: { client: ManagementClient; serverId: string; tool: string }) {
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
