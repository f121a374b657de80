import { useEffect, useRef, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { followServerSentEvents, StreamRefused } from '../event-stream.ts';
import { Link } from '../router.tsx';
import { Empty, ErrorBox, Show, useLoad, useVisible, when } from '../ui.tsx';

const isOpen = (s: Schemas['DebugSession']) => s.active && Date.parse(s.ends_at) > Date.now();

type Summary = Schemas['ExecutionRecordSummary'];

/**
 * The server's calls since `session` opened, newest first, from the session's server-sent events
 * (`GET /mcp_manager/{id}/debug_sessions/{sessionId}/events`, read with `fetch`: `EventSource` cannot send the
 * key). Each call shows as it is stored; a dropped stream reconnects with `Last-Event-ID` (nothing lost, nothing
 * twice). Only while the page is visible: hidden, the stream is closed, and resumed where it was when shown
 * again. `onEnd`: the session was stopped or ended (the parent reloads and unmounts the tail).
 */
function LiveTail({
  client,
  serverId,
  session,
  onEnd,
}: {
  client: ManagementClient;
  serverId: string;
  session: Schemas['DebugSession'];
  onEnd: () => void;
}) {
  const visible = useVisible();
  const [records, setRecords] = useState<Summary[] | null>(null);
  const [state, setState] = useState<'connecting' | 'live' | 'reconnecting'>('connecting');
  const [error, setError] = useState<unknown>(null);
  // Where the stream was (kept while the page is hidden): the next connection resumes after it.
  const lastEventId = useRef<string | undefined>(undefined);
  const seen = useRef(new Set<string>());
  useEffect(() => {
    if (!visible) return;
    const controller = new AbortController();
    setState('connecting');
    followServerSentEvents({
      signal: controller.signal,
      lastEventId: lastEventId.current,
      open: async (last, signal) => {
        const {
          data,
          error: problem,
          response,
        } = await client.GET('/mcp_manager/{id}/debug_sessions/{sessionId}/events', {
          params: { path: { id: serverId, sessionId: session.id }, header: last ? { 'last-event-id': last } : {} },
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
        if (e.event === 'end') {
          onEnd();
          return 'stop';
        }
        if (e.event === 'error') {
          // The server could not follow the calls any more (Redis or the database failed): it closes, this reconnects.
          setError(new ApiError(503, { detail: 'the stream failed', ...(JSON.parse(e.data) as object) }));
          return;
        }
        if (e.event !== 'record') return;
        const record = JSON.parse(e.data) as Summary;
        if (seen.current.has(record.id)) return;
        seen.current.add(record.id);
        setRecords((r) => [record, ...(r ?? [])]);
      },
    }).catch((err: unknown) => {
      if (controller.signal.aborted) return;
      if (err instanceof StreamRefused) {
        setError(new ApiError(err.status, { detail: err.message, ...((err.error ?? {}) as object) }));
      } else setError(err);
    });
    return () => controller.abort();
  }, [client, serverId, session.id, visible]);
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
            <table aria-label="Live tail of the server’s calls">
              <thead>
                <tr>
                  <th scope="col">Started</th>
                  <th scope="col">Tool</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Duration</th>
                </tr>
              </thead>
              <tbody>
                {records.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleTimeString()}</Link>
                    </td>
                    <td>
                      <code>{r.tool}</code>
                    </td>
                    <td>
                      <span className={`outcome ${r.outcome}`}>{r.outcome}</span>
                      {r.error_code && <code> {r.error_code}</code>}
                    </td>
                    <td>{Math.round(r.duration_ms)} ms</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </section>
  );
}

/** Debug sessions of a server: start (1–240 minutes), stop, the list, and the live tail of the open one. */
export function DebugSessions({ client, serverId }: { client: ManagementClient; serverId: string }) {
  const path = { params: { path: { id: serverId } } };
  const [sessions, reload] = useLoad(
    () => unwrap(client.GET('/mcp_manager/{id}/debug_sessions', path)).then((r) => r.data),
    [client, serverId],
  );
  const [minutes, setMinutes] = useState('60');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const open = sessions.state === 'done' ? sessions.data.find(isOpen) : undefined;
  // A session ends by itself at `ends_at`: reload then, which stops the tail.
  useEffect(() => {
    if (!open) return;
    const timer = setTimeout(reload, Math.max(0, Date.parse(open.ends_at) - Date.now()) + 500);
    return () => clearTimeout(timer);
  }, [open?.id, open?.ends_at]);
  const act = (call: Promise<unknown>) => {
    setBusy(true);
    setError(null);
    call.then(reload, (err: unknown) => setError(err)).finally(() => setBusy(false));
  };
  const start = (e: FormEvent) => {
    e.preventDefault();
    act(
      unwrap(client.POST('/mcp_manager/{id}/debug_sessions', { ...path, body: { duration_minutes: Number(minutes) } })),
    );
  };
  const stop = (sessionId: string) =>
    act(
      unwrap(
        client.DELETE('/mcp_manager/{id}/debug_sessions/{sessionId}', {
          params: { path: { id: serverId, sessionId } },
        }),
      ),
    );
  const valid = /^\d+$/.test(minutes) && Number(minutes) >= 1 && Number(minutes) <= 240;
  return (
    <section aria-labelledby="debug-title">
      <h2 id="debug-title">Debug sessions</h2>
      <p className="hint">
        While a session is open, this server’s execution records also keep the requests and responses (credential
        headers redacted, secret values scrubbed, bodies size-capped).
      </p>
      <form className="inline-form" onSubmit={start}>
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
      {error !== null && <ErrorBox error={error} title="Debug session not changed" />}
      <Show loaded={sessions} what="the debug sessions">
        {(list) => (
          <>
            {open ? (
              <>
                <p className="success" role="status">
                  A debug session is open until {when(open.ends_at)}.{' '}
                  <button type="button" className="secondary" disabled={busy} onClick={() => stop(open.id)}>
                    Stop the debug session
                  </button>
                </p>
                <LiveTail client={client} serverId={serverId} session={open} onEnd={reload} />
              </>
            ) : (
              <p role="status">No debug session is open.</p>
            )}
            {list.length === 0 ? (
              <Empty>No debug session yet.</Empty>
            ) : (
              <table>
                <caption className="visually-hidden">Debug sessions of the server, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col">Opened</th>
                    <th scope="col">Ends</th>
                    <th scope="col">Stopped</th>
                    <th scope="col">State</th>
                  </tr>
                </thead>
                <tbody>
                  {[...list]
                    .sort((a, b) => b.opened_at.localeCompare(a.opened_at))
                    .map((s) => (
                      <tr key={s.id}>
                        <td>{when(s.opened_at)}</td>
                        <td>{when(s.ends_at)}</td>
                        <td>{when(s.closed_at)}</td>
                        <td>{isOpen(s) ? 'open' : 'ended'}</td>
                      </tr>
                    ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Show>
    </section>
  );
}
