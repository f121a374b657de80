import { Fragment, type ReactElement } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../../api.ts';
import { Link } from '../../router.tsx';
import { Empty, Show, useLoad } from '../../ui.tsx';
import { ServerLink } from '../../components/server-name.tsx';

/**
 * A call's session (ADR 0078, docs/governance.md "Rules that see the session"): what the call's result brought into
 * it, and the caller's session as it is now: each label with the earlier result that brought it (tool, time, how it
 * was found, its record), the calls counted in it, and this call among them. A call a session rule refused or held
 * says which label decided.
 */

type CallRecord = Schemas['ExecutionRecord'];
type Session = Schemas['Session'];
type Origin = Session['labels'][number];

/** How a label was found, in words (the `source` of a label, `detector` for a guardrail finding). */
function howFound(l: { source: string; detector?: string | undefined }): string {
  switch (l.source) {
    case 'declared':
      return 'declared by the tool';
    case 'classification':
      return 'its server is classified so by an admin';
    case 'annotation':
      return 'the tool’s MCP annotations (open world)';
    default:
      return `a guardrail found ${l.detector ?? 'something'}`;
  }
}

/**
 * The record of the earlier result whose label decided this call, when a session rule refused or held it: the
 * refusal's words name it (`record <id>`, `sessionDecisionText`).
 */
function decidingRecord(r: Pick<CallRecord, 'error_code' | 'message'>): string | null {
  const bySession =
    r.error_code === 'session.refused' ||
    (r.error_code?.startsWith('approval.') && r.message?.includes('session rule'));
  if (!bySession || !r.message) return null;
  return /\(record ([0-9a-f-]{36}),/i.exec(r.message)?.[1] ?? null;
}

/** The caller's session scopes as the edge names them (contracts `sessionScopes`), each with who it is. */
function scopesOf(r: CallRecord, userId: string | null): { scope: string; who: string }[] {
  const c = r.caller;
  const scopes =
    c.key_id !== null
      ? [{ scope: `k:${c.key_id}`, who: `API key ${c.key_name ?? c.key_id}` }]
      : c.subject !== null && c.subject !== 'anonymous'
        ? [{ scope: `s:${c.subject}`, who: `OAuth subject ${c.subject}` }]
        : [{ scope: `a:${r.server_id}`, who: 'the server’s anonymous callers' }];
  if (userId) scopes.push({ scope: `u:${userId}`, who: `person ${c.username ?? userId}` });
  return scopes;
}

const forbidden = (err: unknown) => err instanceof ApiError && err.status === 403;

/** Each scope's session; `null` for one the signed-in caller may not read (only admins and auditors may). */
async function loadSessions(client: ManagementClient, r: CallRecord) {
  let userId: string | null = null;
  if (r.caller.username) {
    const users = await unwrap(client.GET('/external_users')).catch((err: unknown) => {
      if (forbidden(err)) return null;
      throw err;
    });
    userId = users?.data.find((u) => u.name === r.caller.username)?.id ?? null;
  }
  return Promise.all(
    scopesOf(r, userId).map(async ({ scope, who }) => ({
      scope,
      who,
      session: await unwrap(client.GET('/sessions/{scope}', { params: { path: { scope } } })).catch((err: unknown) => {
        if (forbidden(err)) return null;
        throw err;
      }),
    })),
  );
}

const time = (iso: string) => <time dateTime={iso}>{new Date(iso).toLocaleString()}</time>;

type Entry = { at: string; key: string; node: ReactElement };

/** The session's labels and calls, and this call, in time order. */
function entries(session: Session, r: CallRecord, decided: string | null, client: ManagementClient): Entry[] {
  const label = (o: Origin): Entry => {
    const decisive = o.invocationId === decided;
    return {
      at: o.at,
      key: `l ${o.label}`,
      node: (
        <li className={`node label${decisive ? ' bad' : ''}`}>
          <div className="node-title">
            {o.label} from <code>{o.tool}</code>
          </div>
          <div className="node-facts">
            {time(o.at)} · {howFound(o)} · <Link href={`/records/${o.invocationId}`}>record {o.invocationId}</Link>
            {decisive && <strong> · decided this call</strong>}
          </div>
        </li>
      ),
    };
  };
  const call = (c: Session['calls'][number]): Entry => ({
    at: c.firstAt,
    key: `c ${c.serverId} ${c.tool}`,
    node: (
      <li className="node call">
        <div className="node-title">
          <code>{c.tool}</code>: {c.count} call{c.count === 1 ? '' : 's'}
          {c.tool === r.tool && c.serverId === r.server_id ? ' (this call’s tool)' : ''}
        </div>
        <div className="node-facts">
          {time(c.firstAt)} to {time(c.lastAt)} · server <ServerLink client={client} id={c.serverId} />
        </div>
      </li>
    ),
  });
  const self: Entry = {
    at: r.started_at,
    key: 'this call',
    node: (
      <li className={`node this-call${r.outcome === 'success' ? '' : ' bad'}`} aria-current="step">
        <div className="node-title">
          This call: <code>{r.tool}</code> ({r.error_code ?? r.outcome})
        </div>
        <div className="node-facts">{time(r.started_at)}</div>
      </li>
    ),
  };
  return [...session.labels.map(label), ...session.calls.map(call), self].sort((a, b) => a.at.localeCompare(b.at));
}

function SessionTimeline({
  client,
  session,
  record,
  decided,
}: {
  client: ManagementClient;
  session: Session;
  record: CallRecord;
  decided: string | null;
}) {
  return (
    <ol className="timeline session-timeline" aria-label={`Session ${session.scope}`}>
      {entries(session, record, decided, client).map((e) => (
        <Fragment key={e.key}>{e.node}</Fragment>
      ))}
    </ol>
  );
}

/** What decided a refusal or hold: the label of the earlier result the refusal names, as the session shows it. */
function Decided({ origin, id }: { origin: Origin | undefined; id: string }) {
  return (
    <p className="decided">
      Decided by the session:{' '}
      {origin ? (
        <>
          the label <strong>{origin.label}</strong> from the result of <code>{origin.tool}</code> ({time(origin.at)};{' '}
          {howFound(origin)}),{' '}
        </>
      ) : (
        'the label of '
      )}
      <Link href={`/records/${id}`}>record {id}</Link>.
    </p>
  );
}

/** The call's labels and its caller's session, under the record's facts. */
export function CallSession({ client, record }: { client: ManagementClient; record: CallRecord }) {
  const [sessions] = useLoad(() => loadSessions(client, record), [client, record]);
  const decided = decidingRecord(record);
  return (
    <section aria-labelledby="call-session">
      <h2 id="call-session">Session</h2>
      <p>
        {record.labels.length > 0
          ? `This call’s result brought: ${record.labels.map((l) => `${l.label} (${howFound(l)})`).join(', ')}.`
          : 'This call’s result brought no label into its session.'}
      </p>
      <Show loaded={sessions} what="the caller’s session">
        {(list) => (
          <>
            {decided && (
              <Decided
                id={decided}
                origin={list.flatMap((s) => s.session?.labels ?? []).find((o) => o.invocationId === decided)}
              />
            )}
            {list.map(({ scope, who, session }) => (
              <div key={scope}>
                <h3>
                  Session of {who} (<code>{scope}</code>)
                </h3>
                {session === null ? (
                  <Empty>Not allowed: only admins and auditors read a session.</Empty>
                ) : (
                  <>
                    <p className="hint">
                      As it is now: labels are kept the workspace’s session lifetime after the last labelled call.
                    </p>
                    <SessionTimeline client={client} session={session} record={record} decided={decided} />
                  </>
                )}
              </div>
            ))}
          </>
        )}
      </Show>
    </section>
  );
}
