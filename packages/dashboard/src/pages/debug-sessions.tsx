import { useEffect, useState, type FormEvent } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { Empty, ErrorBox, Show, useLoad, useVisible, when } from '../ui.tsx';

const TAIL_POLL_MS = 2000;

const isOpen = (s: Schemas['DebugSession']) => s.active && Date.parse(s.ends_at) > Date.now();

/**
 * The server's calls since `session` opened, newest first. There is no server-sent events (or other push) endpoint
 * for execution records, so this polls `GET /execution_records?server_id=…` every 2 s — only while the page is
 * visible and the session is open (the parent unmounts the tail when it ends).
 */
function LiveTail({
  client,
  serverId,
  session,
}: {
  client: ManagementClient;
  serverId: string;
  session: Schemas['DebugSession'];
}) {
  const visible = useVisible();
  const [records, setRecords] = useState<Schemas['ExecutionRecordSummary'][] | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!visible) return;
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = () => {
      unwrap(
        client.GET('/execution_records', {
          params: { query: { server_id: serverId, from: session.opened_at, limit: 50 } },
        }),
      )
        .then(
          (list) => {
            if (!live) return;
            setRecords(list.data);
            setError(null);
          },
          (err: unknown) => live && setError(err),
        )
        .finally(() => {
          if (live) timer = setTimeout(poll, TAIL_POLL_MS);
        });
    };
    poll();
    return () => {
      live = false;
      clearTimeout(timer);
    };
  }, [client, serverId, session.opened_at, visible]);
  return (
    <section className="tail" aria-labelledby="tail-title">
      <h3 id="tail-title">Live tail</h3>
      <p className="hint">
        {visible
          ? 'Calls to this server since the session opened, checked every 2 seconds.'
          : 'Paused while this page is hidden.'}
      </p>
      {error !== null && <ErrorBox error={error} title="Could not load the calls" />}
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
                <LiveTail client={client} serverId={serverId} session={open} />
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
