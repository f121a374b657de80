import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Link } from '../router.tsx';
import { Json, useLoad, when } from '../ui.tsx';
import { DecideForm, DecisionList, partyText, StateFilter, stateOf, stateQuery } from '../components/decisions.tsx';

type Approval = Schemas['Approval'];
type State = Approval['state'];

const states: readonly [State, ...State[]] = ['pending', 'granted', 'denied', 'expired', 'executed'];

/** The rule: who may decide, how many approvals it needs and how many were given. */
function RuleCell({ approval }: { approval: Approval }) {
  const { apiKeys, subjects, people } = approval.rule.approvers;
  const given = approval.decisions.filter((d) => d.decision === 'approve').length;
  const who = [
    ...(subjects ?? []).map((s) => `user ${s}`),
    ...(apiKeys ?? []).map((k) => `API key ${k}`),
    ...(people ?? []).map((p) => `person ${p}`),
  ];
  return (
    <>
      <span>
        {given} of {approval.rule.approvals} approval{approval.rule.approvals === 1 ? '' : 's'} given
      </span>
      <br />
      <span className="hint">Approvers: {who.join(', ')}</span>
      <SessionChain approval={approval} />
      <GrantHold approval={approval} />
    </>
  );
}

/**
 * A call a session rule held (ADR 0078): the rule's words, naming the earlier result whose label decided, and a link
 * to that result's record.
 */
function SessionChain({ approval }: { approval: Approval }) {
  const session = approval.rule.session;
  if (!session) return null;
  const { origin } = session;
  return (
    <p className="session-chain">
      Why it waits: {session.reason}.{' '}
      <Link href={`/records/${origin.invocationId}`}>
        The {origin.label} result of {origin.tool}
        <span className="visually-hidden"> (its execution record)</span>
      </Link>
    </p>
  );
}

/** What a held call is outside of, of the task grant that held it (`violated`: a bound's name, or what it is). */
function outsideOf(violated: string): string {
  if (violated === 'calls') return 'its budget of calls is spent';
  if (violated === 'tools') return 'it does not cover this tool';
  if (violated === 'expiry') return 'it expired';
  return `its bound "${violated}" does not hold`;
}

/** A call a task grant held (ADR 0108, 0113): the grant's purpose and id, and what the call is outside of. */
function GrantHold({ approval }: { approval: Approval }) {
  const grant = approval.rule.taskGrant;
  if (!grant) return null;
  return (
    <p className="grant-hold">
      Held by task grant “{grant.purpose}” ({grant.id}): {outsideOf(grant.violated)}.
    </p>
  );
}

/**
 * Approve or deny one pending request, with an optional comment; the decided request replaces the row
 * (`onDecided`). A refusal (403 not an approver, 409 decided already or expired) is shown in the row.
 */
function Decide({
  client,
  approval,
  onDecided,
}: {
  client: ManagementClient;
  approval: Approval;
  onDecided: (a: Approval) => void;
}) {
  const label = `${approval.tool} on ${approval.server.name}`;
  const path = { path: { id: approval.id } };
  return (
    <div className="decide">
      <DecideForm
        open={approval.state === 'pending'}
        comment={{ id: `comment-${approval.id}`, label: `Comment on ${label} (optional)` }}
        label={label}
        send={(how, body) =>
          unwrap(
            how === 'approve'
              ? client.POST('/approvals/{id}/approve', { params: path, body })
              : client.POST('/approvals/{id}/deny', { params: path, body }),
          )
        }
        then={(decided, how) => {
          onDecided(decided);
          return `${how === 'approve' ? 'Approved' : 'Denied'}: the request is ${decided.state}.`;
        }}
      />
    </div>
  );
}

function columnsFor(client: ManagementClient, onDecided: (a: Approval) => void): Column<Approval>[] {
  return [
    { header: 'Requested by', rowHeader: true, cell: (a) => partyText(a.requester) },
    {
      header: 'Call',
      cell: (a) => (
        <>
          <code>{a.tool}</code> on {a.server.name}
          <Json value={a.arguments} label={`Arguments of ${a.tool} (secret values masked)`} />
        </>
      ),
    },
    { header: 'Rule', cell: (a) => <RuleCell approval={a} /> },
    { header: 'State', cell: (a) => <span data-state={a.state}>{a.state}</span> },
    { header: 'Expires', cell: (a) => when(a.expiresAt) },
    {
      header: 'Decision',
      cell: (a) => (
        <>
          {a.decisions.length > 0 && <DecisionList decisions={a.decisions} />}
          <Decide client={client} approval={a} onDecided={onDecided} />
        </>
      ),
    },
  ];
}

/**
 * The approvals inbox (ADR 0049): calls of a server's `approvalTools` waiting for someone else's approval, with
 * their masked arguments. The signed-in user decides as themselves (their API key, or their OAuth subject): only an
 * approver the rule names may, and never the caller of the call.
 */
export function ApprovalsPage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const state = stateOf(query, states);
  const [loaded, reload] = useLoad(
    () => unwrap(client.GET('/approvals', { params: { query: stateQuery(state) } })),
    [client, state],
  );
  // Decided here: the answer replaces the listed request (it stays in view, whatever the filter).
  const [decided, setDecided] = useState<Record<string, Approval>>({});
  const onDecided = (a: Approval) => setDecided((d) => ({ ...d, [a.id]: a }));
  const rows = loaded.state === 'done' ? { ...loaded, data: loaded.data.data.map((a) => decided[a.id] ?? a) } : loaded;
  return (
    <>
      <h1>Approvals</h1>
      <p className="hint">
        Calls of tools that need someone else’s approval. An approved call runs once, when its caller calls again with
        the same arguments; a denial’s comment is shown to the caller. Secret values of the arguments are masked.
      </p>
      <StateFilter id="approvals-state" path="/approvals" states={states} value={state} onRefresh={reload} />
      <ResourceTable
        loaded={rows}
        what="the approval requests"
        columns={columnsFor(client, onDecided)}
        rowData={(a) => ({ id: a.id })}
        caption="Approval requests, newest first"
        empty={
          state === 'pending' ? 'Nothing waits for an approval.' : `No ${state === 'all' ? '' : `${state} `}request.`
        }
      />
    </>
  );
}
