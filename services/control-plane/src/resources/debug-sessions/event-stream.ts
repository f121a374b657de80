import { UserError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { Request, Response } from 'express';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';
import { credentialName, keyAccessError, type Caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { presentRecord, type RecordRow } from '../execution-records/present.ts';
import type { DebugEventHub } from '../../publication/debug-events.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/**
 * Records are sent in the order their calls finished (start + duration, then id). A record stored late
 * (another replica's batch, a slow worker) whose call finished up to this long before the last one sent
 * is still sent on the open stream; its event then repeats the last id, so a resume never repeats it.
 */
const LATE_MS = 30_000;
/** Rows read at once. */
const PAGE = 500;

type SessionRow = { id: string; serverId: string; openedAt: Date; endsAt: Date; closedAt: Date | null };
type Row = RecordRow & { finishMs: number };
/** Where a stream is in its records: the (finish, id) of a record. */
type Cursor = { finishMs: number; id: string };

const after = (r: Cursor, c: Cursor | undefined) =>
  !c || r.finishMs > c.finishMs || (r.finishMs === c.finishMs && r.id > c.id);
const endOf = (s: SessionRow) => (s.closedAt && s.closedAt < s.endsAt ? s.closedAt : s.endsAt);

const columns = `id, server_id AS "serverId", catalog_version AS "catalogVersion", tool, key_id AS "keyId", username,
  started_at AS "startedAt", duration_ms AS "durationMs", outcome, error_code AS "errorCode", message, steps,
  (SELECT k.name FROM api_keys k WHERE k.id::text = execution_records.key_id) AS "keyName",
  (extract(epoch FROM started_at) * 1000 + duration_ms)::float8 AS "finishMs"`;

/**
 * `GET /mcp_manager/{id}/debug_sessions/{sessionId}/events`: the server's execution records stored since
 * the session opened, as server-sent events (`event: record`, `id:` the record id, data: the summary of
 * `GET /execution_records`), first those stored already (after `Last-Event-ID`, when resuming), then each
 * as it is stored; a comment every 15 s; `event: end` when the session is stopped or ends (then the
 * stream closes); `event: error` when Redis or the database fails (then it closes too), and when the
 * credential no longer reaches the server: its API key revoked or restricted to other servers (checked
 * again on each announcement of the key's change, at the start and with each heartbeat), or its access
 * token expired (at its `exp`). The session and server were checked by the caller (404s); `initial` is
 * the row read then.
 */
export async function streamDebugEvents(
  { debugEvents: hub, db }: Pick<ControlPlaneDeps, 'debugEvents' | 'db'>,
  { me, req, res }: { me: Caller; req: Request; res: Response },
  initial: SessionRow,
): Promise<void> {
  if (!hub.acquire(me.principal))
    throw new UserError(
      'request.rate_limited',
      `${credentialName(me)} already has ${hub.maxStreamsPerKey} debug event streams open on this control plane; close one`,
      { status: 429, details: { retryAfterSeconds: 5 } },
    );
  await new DebugEventStream({ hub, db, res, me }, initial).run(req.header('last-event-id')?.trim());
}

/** What one stream works with: the process's hub, the database, the answer and the caller that opened it. */
interface StreamContext {
  hub: DebugEventHub;
  db: Db;
  res: Response;
  me: Caller;
}

/** One open event stream (`streamDebugEvents`); its stream slot is taken before it is made, and given back by `cleanup`. */
class DebugEventStream {
  private readonly hub: DebugEventHub;
  private readonly db: Db;
  private readonly res: Response;
  private readonly me: Caller;
  private readonly serverId: string;
  private readonly log: Logger;
  private session: SessionRow;
  private closed = false;
  private unlisten: (() => void) | undefined;
  private readonly timers: { heartbeat?: NodeJS.Timeout; end?: NodeJS.Timeout; expiry?: NodeJS.Timeout } = {};
  private readonly untrack: () => void;
  /** Resuming: the record named by Last-Event-ID, where the stream was. */
  private floor: Cursor | undefined;
  private cursor: Cursor | undefined;
  /** Ids sent on this connection whose calls finished within LATE_MS of the cursor. */
  private readonly sent = new Map<string, number>();
  /** Reads never overlap: a notification during a read makes it read once more. */
  private reading: Promise<void> | undefined;
  private again = false;

  constructor(context: StreamContext, initial: SessionRow) {
    this.hub = context.hub;
    this.db = context.db;
    this.res = context.res;
    this.me = context.me;
    this.session = initial;
    this.serverId = initial.serverId;
    this.log = context.hub.log.child({ serverId: this.serverId, sessionId: initial.id });
    this.untrack = this.hub.track(() => {
      this.cleanup();
      this.res.end();
    });
    this.res.on('close', this.cleanup);
  }

  /** Resumes after `lastEventId` (when it names a record), sends the headers, then follows the session. */
  async run(lastEventId: string | undefined): Promise<void> {
    await this.resumeAfter(lastEventId);
    this.cursor = this.floor;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
    if (!(await this.subscribe())) return;
    await this.follow();
  }

  private readonly cleanup = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.untrack();
    clearInterval(this.timers.heartbeat);
    clearTimeout(this.timers.end);
    clearTimeout(this.timers.expiry);
    this.unlisten?.();
    this.hub.release(this.me.principal);
    this.log.debug({ streams: this.hub.streams, subscriptions: this.hub.subscriptions }, 'debug event stream closed');
  };

  /** Resuming: the record named by Last-Event-ID (one of this server's, in the session) is where the stream was. */
  private async resumeAfter(lastId: string | undefined): Promise<void> {
    try {
      if (isUuid(lastId)) {
        const rows = await this.db.$queryRawUnsafe<Row[]>(
          `SELECT ${columns} FROM execution_records WHERE id = $1::uuid AND server_id = $2::uuid`,
          lastId,
          this.serverId,
        );
        if (rows[0]) this.floor = { finishMs: rows[0].finishMs, id: rows[0].id };
      }
    } catch (err) {
      this.cleanup();
      throw err;
    }
  }

  private write(text: string): void {
    if (!this.closed) this.res.write(text);
  }

  private finish(event: 'end' | 'error', data: unknown): void {
    if (this.closed) return;
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    this.cleanup();
    this.res.end();
  }

  private readonly fail = (err: unknown): void => {
    this.log.warn({ err }, 'debug event stream failed');
    this.finish('error', {
      code: 'service.unavailable',
      detail: `the stream cannot follow new records: ${err instanceof Error ? err.message : String(err)}`,
    });
  };

  /** Sends what was stored since the last read (the newest state of PostgreSQL). */
  private async read(): Promise<void> {
    for (;;) {
      const from = Math.max(this.floor?.finishMs ?? 0, (this.cursor?.finishMs ?? 0) - LATE_MS);
      const rows = await this.db.$queryRawUnsafe<Row[]>(
        `SELECT ${columns} FROM execution_records
         WHERE server_id = $1::uuid
           AND started_at >= (to_timestamp($2::float8 / 1000) AT TIME ZONE 'UTC')
           AND started_at < (to_timestamp($3::float8 / 1000) AT TIME ZONE 'UTC')
           AND extract(epoch FROM started_at) * 1000 + duration_ms >= $4::float8
         ORDER BY "finishMs", id
         LIMIT ${PAGE + this.sent.size}`,
        this.serverId,
        this.session.openedAt.getTime(),
        endOf(this.session).getTime(),
        from,
      );
      const fresh = rows.filter((r) => !this.sent.has(r.id) && after(r, this.floor));
      for (const r of fresh) {
        if (this.closed) return;
        // A late record (finished before the cursor) repeats the cursor's id: a resume starts after the cursor.
        if (after(r, this.cursor)) this.cursor = { finishMs: r.finishMs, id: r.id };
        this.sent.set(r.id, r.finishMs);
        this.write(`event: record\nid: ${this.cursor!.id}\ndata: ${JSON.stringify(presentRecord(r, false))}\n\n`);
      }
      for (const [id, f] of this.sent) if (f < (this.cursor?.finishMs ?? 0) - LATE_MS) this.sent.delete(id);
      if (rows.length < PAGE + this.sent.size || fresh.length === 0) return;
    }
  }

  /** Reads (`read`), or, during a read, makes it read once more; resolves when the reading ends. */
  private pump(): Promise<void> {
    if (this.reading) {
      this.again = true;
      return this.reading;
    }
    this.reading = (async () => {
      try {
        do {
          this.again = false;
          await this.read();
        } while (this.again && !this.closed);
      } finally {
        this.reading = undefined;
      }
    })();
    return this.reading;
  }

  private readonly pumpOrFail = (): void => void this.pump().catch(this.fail);

  /** Ends the stream when the session was stopped or its time is up (after sending its last records). */
  private async checkSession(): Promise<void> {
    const row = (await this.db.debugSession.findFirst({ where: { id: this.session.id } })) as SessionRow | null;
    if (row) this.session = row;
    const end = endOf(this.session);
    if (row && end > new Date()) return;
    await this.pump();
    this.finish('end', {
      session_id: this.session.id,
      reason: row?.closedAt && row.closedAt <= this.session.endsAt ? 'stopped' : 'ended',
      ended_at: end.toISOString(),
    });
  }

  private readonly checkOrFail = (): void => void this.checkSession().catch(this.fail);

  /** Ends the stream with `event: error` (what REST would answer now): the credential no longer reaches the server. */
  private refuse(code: string, detail: string): void {
    if (this.closed) return;
    this.log.info(
      { principal: this.me.principal, code },
      'debug event stream ended: its credential no longer reaches the server',
    );
    this.finish('error', { code, detail });
  }

  private async checkKey(): Promise<void> {
    if (this.me.keyHash === undefined || this.closed) return;
    const denied = await keyAccessError(this.db, this.me.keyHash, this.serverId);
    if (denied) this.refuse(denied.code, `${denied.message}: the stream ended`);
  }

  private readonly checkKeyOrFail = (): void => void this.checkKey().catch(this.fail);

  /** Listens to the server's records, its sessions and the key's changes; false when the stream has ended. */
  private async subscribe(): Promise<boolean> {
    let unlisten: () => void;
    try {
      unlisten = this.unlisten = await this.hub.listen(this.serverId, {
        keyHash: this.me.keyHash,
        records: this.pumpOrFail,
        session: this.checkOrFail,
        keyChanged: this.checkKeyOrFail,
        failed: this.fail,
      });
    } catch (err) {
      this.fail(err);
      return false;
    }
    if (!this.closed) return true;
    unlisten();
    return false;
  }

  /**
   * The stream once subscribed: its credential checked (an access token until it expires), then the heartbeat, the
   * session's end, the records stored so far and the session's state (it may have ended already).
   */
  private async follow(): Promise<void> {
    // An access token ends the stream when it expires; a key is checked again now that its changes are heard
    // (one revoked between the authentication and the subscription would otherwise keep the stream).
    if (this.me.expiresAt !== undefined) {
      const expire = () => this.refuse('auth.invalid_token', 'the access token has expired: the stream ended');
      const ms = this.me.expiresAt - Date.now();
      if (ms <= 0) return expire();
      this.timers.expiry = setTimeout(expire, Math.min(ms, 2 ** 31 - 1));
    }
    try {
      await this.checkKey();
    } catch (err) {
      this.fail(err);
      return;
    }
    if (this.closed) return;
    this.log.debug(
      { streams: this.hub.streams, subscriptions: this.hub.subscriptions, resumeAfter: this.floor?.id },
      'debug event stream opened',
    );
    this.write('retry: 2000\n\n');
    this.timers.heartbeat = setInterval(() => {
      this.write(': keep-alive\n\n');
      this.checkOrFail();
      this.checkKeyOrFail(); // belt and braces: a key change whose announcement was lost ends the stream here
    }, HEARTBEAT_MS);
    const untilEnd = endOf(this.session).getTime() - Date.now();
    if (untilEnd > 0) this.timers.end = setTimeout(this.checkOrFail, Math.min(untilEnd + 100, 2 ** 31 - 1));
    // The records stored so far, then the session's state (it may have ended already).
    try {
      await this.pump();
      await this.checkSession();
    } catch (err) {
      this.fail(err);
    }
  }
}
