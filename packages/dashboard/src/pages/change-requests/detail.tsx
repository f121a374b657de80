import { useState } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { DecideForm, DecisionList, partyText } from '../../components/decisions.tsx';
import { LineDiff } from '../../components/definition-diff.tsx';
import { Facts } from '../../components/facts.tsx';
import { lineDiff } from '../../diff.ts';
import { Link } from '../../router.tsx';
import { Json, Show, useLoad, when } from '../../ui.tsx';
import { ChangeImpact } from '../../components/reachability.tsx';

type ChangeRequest = Schemas['ChangeRequest'];

/** Who may decide: the approvers the setting named when the change was made (none: who may change policies). */
function approversText(r: ChangeRequest): string {
  const { apiKeys, subjects, groups, people } = r.approvers;
  const who = [
    ...(apiKeys ?? []).map((k) => `API key ${k}`),
    ...(subjects ?? []).map((s) => `user ${s}`),
    ...(groups ?? []).map((g) => `group ${g}`),
    ...(people ?? []).map((p) => `person ${p} (through a link)`),
  ];
  return who.length > 0 ? who.join(', ') : 'anyone who may change access policies (never the requester)';
}

const pretty = (v: unknown) => (v === undefined ? '' : `${JSON.stringify(v, null, 2)}\n`);

/**
 * The exact change: the target as it is now (the fields the change names; all of it for a deletion) against what the
 * change sets. The target is read with the caller's own rights: one they may not read shows the change alone.
 */
function ChangeDiff({ client, request }: { client: ManagementClient; request: ChangeRequest }) {
  const [method, path] = request.operation.split(' ') as [string, string];
  const [target] = useLoad(async () => {
    // A concrete path the request names (`/quotas/<id>`): read as its own GET answers it.
    const r = await client.GET(path as never, {} as never);
    return (r as { data?: unknown }).data as Record<string, unknown> | undefined;
  }, [client, path]);
  const body = (request.body ?? undefined) as Record<string, unknown> | undefined;
  const now = (t: Record<string, unknown> | undefined) =>
    t === undefined ? undefined : body ? Object.fromEntries(Object.keys(body).map((k) => [k, t[k] ?? null])) : t;
  const label = `The change ${request.operation}: the target now (−) and as the change sets it (+)`;
  return (
    <section aria-labelledby="change-diff">
      <h2 id="change-diff">The change</h2>
      <p className="hint">
        <code>{request.operation}</code>
        {method === 'DELETE' ? ' deletes it.' : ', exactly this body'} (SHA-256 <code>{request.bodyDigest}</code>).
      </p>
      {target.state === 'loading' ? null : target.state === 'done' && target.data ? (
        <LineDiff parts={lineDiff(pretty(now(target.data)), pretty(body))} label={label} />
      ) : (
        <Json value={body ?? null} label={`The body of ${request.operation}`} />
      )}
    </section>
  );
}

/** Approve or deny, with an optional comment: for an approver the setting names; the requester's own is refused. */
function Decide({
  client,
  request,
  onDecided,
}: {
  client: ManagementClient;
  request: ChangeRequest;
  onDecided: (r: ChangeRequest) => void;
}) {
  const path = { path: { id: request.id } };
  return (
    <section aria-labelledby="change-decide">
      <h2 id="change-decide">Decision</h2>
      <DecisionList decisions={request.decisions} />
      <DecideForm
        open={request.state === 'pending'}
        comment={{ id: 'change-comment', label: 'Comment (optional)' }}
        label={`the change ${request.operation}`}
        send={(how, body) =>
          unwrap(
            how === 'approve'
              ? client.POST('/change_requests/{id}/approve', { params: path, body })
              : client.POST('/change_requests/{id}/deny', { params: path, body }),
          )
        }
        then={(decided, how) => {
          onDecided(decided);
          return decided.state === 'applied'
            ? 'Approved: the change is applied.'
            : `${how === 'approve' ? 'Approved' : 'Denied'}: the request is ${decided.state}.`;
        }}
      >
        <p className="hint">Its requester never decides it: their approval is refused.</p>
      </DecideForm>
    </section>
  );
}

/** One change request: what it changes, who asked, who may decide, its state; the diff; the decision. */
export function ChangeRequestDetail({ client, id }: { client: ManagementClient; id: string }) {
  const [loaded] = useLoad(
    () => unwrap(client.GET('/change_requests/{id}', { params: { path: { id } } })),
    [client, id],
  );
  const [decided, setDecided] = useState<ChangeRequest | null>(null);
  return (
    <>
      <p>
        <Link href="/change-requests">All change requests</Link>
      </p>
      <Show loaded={loaded} what="the change request">
        {(found) => {
          const r = decided ?? found;
          return (
            <>
              <h1>Change request {r.operation}</h1>
              <Facts
                facts={[
                  ['State', <span data-state={r.state}>{r.state}</span>],
                  ['Loosens', r.loosens.join(', ')],
                  ['Requested by', partyText(r.requester)],
                  ['Requested', when(r.requestedAt)],
                  ['Expires', when(r.expiresAt)],
                  ['Approvers', approversText(r)],
                  ['Approvals', `${r.decisions.filter((d) => d.decision === 'approve').length} of ${r.approvals}`],
                  r.appliedAt && ['Applied', when(r.appliedAt)],
                ]}
              />
              <ChangeDiff client={client} request={r} />
              <ChangeImpact client={client} request={r} />
              <Decide client={client} request={r} onDecided={setDecided} />
            </>
          );
        }}
      </Show>
    </>
  );
}
