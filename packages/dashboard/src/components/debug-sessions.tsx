import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { followServerSentEvents, StreamRefused, type ServerSentEvent } from '../event-stream.ts';
import { Link } from '../router.tsx';
import { ActionButton, ErrorBox, Show, useLoad, useVisible, when } from '../ui.tsx';
import { useAction } from './action.ts';
import { ActionError } from './form.tsx';
import { Writable } from '../powers.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';
import { Section } from '../components/section.tsx';

const isOpen = (s: Schemas['DebugSession']) => s.active && Date.parse(s.ends_at) > Date.now();

type Summary = Schemas['ExecutionRecordSummary'];
type Session = Schemas['DebugSession'];

/** The outcome of a call, and its error code. */
export function OutcomeCell({ outcome, errorCode }: { outcome: string; errorCode: string | null }) {
  return (
    <>
      <span className={`outcome ${outcome}`}>{outcome}</span>
      {errorCode && <code> {errorCode}</code>}
    </>
  );
}

const tailColumns: Column<Summary>[] = [
  {
    header: 'Started',
    cell: (r) => <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleTimeString()}</Link>,
  },
  { header: 'Tool', cell: (r) => <code>{r.tool}</code> },
  { header: 'Outcome', cell: (r) => <OutcomeCell outcome={r.outcome} errorCode={r.error_code} /> },
  { header: 'Duration', cell: (r) => `${Math.round(r.duration_ms)} ms` },
];

/** What one event of the session's stream does: `end` stops it, `error` reports, `record` adds a call. */
function tailEvent(
  e: ServerSentEvent,
  on: { end: () => void; error: (err: unknown) => void; record: (r: Summary) => void },
): 'stop' | void {
  if (e.event === 'end') {
    on.end();
    return 'stop';
  }
  // The server could not follow the calls any more (Redis or the database failed): it closes, this reconnects.
  if (e.event === 'error')
    on.error(new ApiError(503, { detail: 'the stream failed', ...(JSON.parse(e.data) as object) }));
  else if (e.event === 'record') on.record(JSON.parse(e.data) as Summary);
}

/**
 * Follows `session`'s server-sent events (`GET /mcp_manager/{id}/debug_sessions/{sessionId}/events`, read with
 * `fetch`: `EventSource` cannot send the key) while the page is visible: hidden, the stream is closed, and resumed
 * where it was (`Last-Event-ID`: nothing lost, nothing twice) when shown again.
 */
function useLiveTail(client: ManagementClient, serverId: string, session: Session, onEnd: () => void) {
  const visible = useVisible();
  const [records, setRecords] = useState<Summary[] | null>(null);
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [error, setError] = useState<unknown>(null);
  // Where the stream was (kept while the page is hidden): the next connection resumes after it.
  const lastEventId = useRef<string | undefined>(undefined);
  const seen = useRef(new Set<string>());
  const record = (r: Summary) => {
    if (seen.current.has(r.id)) return;
    seen.current.add(r.id);
    setRecords((list) => [r, ...(list ?? [])]);
  };
  useEffect(() => {
    if (!visible) return;
    const controller = new AbortController();
    setState('connecting');
    followServerSentEvents({
      signal: controller.signal,
      lastEventId: lastEventId.current,
      open: async (last, signal) => {
        const path = { id: serverId, sessionId: session.id };
        const {
          data,
          error: problem,
          response,
        } = await client.GET('/mcp_manager/{id}/debug_sessions/{sessionId}/events', {
          params: { path, header: last ? { 'last-event-id': last } : {} },
          parseAs: 'stream',
          signal,
        });
        if (!response.ok || !data) throw new StreamRefused(response.status, problem);
        return data;
      },
      onState: (now, err) => {
        setState(now);
        if (now === 'live') {
          setError(null);
          setRecords((r) => r ?? []);
        } else if (err !== undefined) setError(err);
      },
      onEvent: (e) => {
        lastEventId.current = e.lastEventId;
        return tailEvent(e, { end: onEnd, error: setError, record });
      },
    }).catch((err: unknown) => {
      if (controller.signal.aborted) return;
      if (err instanceof StreamRefused)
        setError(new ApiError(err.status, { detail: err.message, ...((err.error ?? {}) as object) }));
      else setError(err);
    });
    return () => controller.abort();
  }, [client, serverId, session.id, visible]);
  return { visible, records, state, error };
}

/**
 * The server's calls since `session` opened, newest first, each shown as it is stored. `onEnd`: the session was
 * stopped or ended (the parent reloads and unmounts the tail).
 */
function LiveTail(props: { client: ManagementClient; serverId: string; session: Session; onEnd: () => void }) {
  const { visible, records, state, error } = useLiveTail(props.client, props.serverId, props.session, props.onEnd);
  return (
    <section className="tail" aria-labelledby="tail-title">
      <h3 id="tail-title">Live tail</h3>
      <p className="hint">
        {!visible
          ? 'Paused while this page is hidden.'
          : state === 'reconnecting'
            ? 'Connection lost: reconnecting (no call will be missed).'
            : 'Calls to this server since the session opened, shown as they are recorded.'}
      </p>
      {error !== null && <ErrorBox error={error} title="Could not follow the calls" />}
      {records === null ? (
        error === null && (
          <p className="loading" role="status">
            Loading the calls…
          </p>
        )
      ) : (
        <>
          <p aria-live="polite">
            {records.length === 0
              ? 'No call yet: call a tool of this server.'
              : `${records.length} call${records.length === 1 ? '' : 's'} since the session opened.`}
          </p>
          {records.length > 0 && (
            <ResourceTable rows={records} columns={tailColumns} label="Live tail of the server’s calls" />
          )}
        </>
      )}
    </section>
  );
}

const sessionColumns: Column<Session>[] = [
  { header: 'Opened', cell: (s) => when(s.opened_at) },
  { header: 'Ends', cell: (s) => when(s.ends_at) },
  { header: 'Stopped', cell: (s) => when(s.closed_at) },
  { header: 'State', cell: (s) => (isOpen(s) ? 'open' : 'ended') },
];

/** The form that opens a session of 1–240 minutes. */
function StartForm({ open, busy, onStart }: { open: boolean; busy: boolean; onStart: (minutes: number) => void }) {
  const [minutes, setMinutes] = useState('60');
  const valid = /^\d+$/.test(minutes) && Number(minutes) >= 1 && Number(minutes) <= 240;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onStart(Number(minutes));
  };
  return (
    <form className="inline-form" onSubmit={submit}>
      <div className="field">
        <label htmlFor="debug-minutes">Duration (minutes, 1–240)</label>
        <input
          id="debug-minutes"
          type="number"
          min={1}
          max={240}
          step={1}
          required
          value={minutes}
          onChange={(e) => setMinutes(e.target.value)}
        />
      </div>
      <button type="submit" disabled={busy || !valid}>
        {open ? 'Start a new debug session' : 'Start a debug session'}
      </button>
    </form>
  );
}

/** Debug sessions of a server: start (1–240 minutes), stop, the list, and the live tail of the open one. */
export function DebugSessions({ client, serverId }: { client: ManagementClient; serverId: string }) {
  const path = { params: { path: { id: serverId } } };
  const [sessions, reload] = useLoad(
    () => unwrap(client.GET('/mcp_manager/{id}/debug_sessions', path)).then((r) => r.data),
    [client, serverId],
  );
  const change = useAction();
  const open = sessions.state === 'done' ? sessions.data.find(isOpen) : undefined;
  // A session ends by itself at `ends_at`: reload then, which stops the tail.
  useEffect(() => {
    if (!open) return;
    const timer = setTimeout(reload, Math.max(0, Date.parse(open.ends_at) - Date.now()) + 500);
    return () => clearTimeout(timer);
  }, [open?.id, open?.ends_at]);
  const act = (call: () => Promise<unknown>) => change.run(call, { then: reload });
  const start = (minutes: number) =>
    act(() =>
      unwrap(client.POST('/mcp_manager/{id}/debug_sessions', { ...path, body: { duration_minutes: minutes } })),
    );
  const stop = (sessionId: string) =>
    act(() =>
      unwrap(
        client.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
          params: { path: { id: serverId, sessionId } },
        }),
      ),
    );
  return (
    <Section id="debug" title="Debug sessions">
      <p className="hint">
        While a session is open, this server’s execution records also keep the requests and responses (credential
        headers redacted, secret values scrubbed, bodies size-capped).
      </p>
      <Writable>
        <StartForm open={open !== undefined} busy={change.busy} onStart={start} />
      </Writable>
      <ActionError action={change} title="Debug session not changed" />
      <Show loaded={sessions} what="the debug sessions">
        {(list) => (
          <>
            {open ? (
              <>
                <p className="success" role="status">
                  A debug session is open until {when(open.ends_at)}.{' '}
                  <ActionButton className="secondary" disabled={change.busy} onClick={() => stop(open.id)}>
                    Stop the debug session
                  </ActionButton>
                </p>
                <LiveTail client={client} serverId={serverId} session={open} onEnd={reload} />
              </>
            ) : (
              <p role="status">No debug session is open.</p>
            )}
            <ResourceTable
              rows={[...list].sort((a, b) => b.opened_at.localeCompare(a.opened_at))}
              columns={sessionColumns}
              caption="Debug sessions of the server, newest first"
              empty="No debug session yet."
            />
          </>
        )}
      </Show>
    </Section>
  );
}
