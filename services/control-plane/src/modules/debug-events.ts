import { redisKeys } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import type { Request, Response } from 'express';
import type { Redis } from 'ioredis';
import type { Db } from '../db/client.ts';
import { caller, credentialName, keyAccessError } from '../http/auth.ts';
import { isUuid } from './ids.ts';
import { presentRecord, recordsStoredChannel, type RecordRow } from './execution-records.ts';

/** A comment line this often keeps proxies from closing an idle stream. */
const HEARTBEAT_MS = 15_000;
/** How long a SUBSCRIBE may take before Redis counts as unreachable. */
const SUBSCRIBE_TIMEOUT_MS = 5_000;
/**
 * Records are sent in the order their calls finished (start + duration, then id). A record stored late
 * (another replica's batch, a slow worker) whose call finished up to this long before the last one sent
 * is still sent on the open stream; its event then repeats the last id, so a resume never repeats it.
 */
const LATE_MS = 30_000;
/** Rows read at once. */
const PAGE = 500;

interface Listener {
  /** The hash of the API key the stream was opened with (undefined: an access token). */
  keyHash?: string | undefined;
  /** Records of the server were stored (by any replica). */
  records(): void;
  /** A debug session of the server was opened or closed. */
  session(): void;
  /** The stream's API key changed (revoked, restricted to other servers): its access is checked again. */
  keyChanged(): void;
  /** Redis is unreachable: the stream cannot learn about new records (or key changes) any more. */
  failed(err: Error): void;
}

/**
 * One Redis subscriber connection per process for every open debug-event stream: a channel per server
 * with listeners (`records-stored:<serverId>`, published by the replica that stored them), the debug
 * session changes and the API key changes (`apiKeyChanged`: the hash of each key the control plane
 * publishes, created, revoked or restricted). Channels are unsubscribed with their last listener and the
 * connection is closed with the last stream; if the connection fails, every stream hears it (and ends)
 * and the next one reconnects.
 */
export class DebugEventHub {
  private readonly redis: Redis;
  private readonly prefix: string;
  readonly log: Logger;
  /** Open streams per API key, at most `maxStreamsPerKey`. */
  readonly maxStreamsPerKey: number;
  private readonly perKey = new Map<string, number>();
  private sub: Redis | undefined;
  /** Ends each open stream (at shutdown). */
  private readonly open = new Set<() => void>();
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(redis: Redis, prefix: string, log: Logger, opts: { maxStreamsPerKey?: number } = {}) {
    this.redis = redis;
    this.prefix = prefix;
    this.log = log;
    this.maxStreamsPerKey = opts.maxStreamsPerKey ?? 10;
  }

  /** Open streams of this process. */
  get streams(): number {
    let n = 0;
    for (const v of this.perKey.values()) n += v;
    return n;
  }

  /** Channels subscribed by this process. */
  get subscriptions(): number {
    return this.listeners.size;
  }

  /** Takes a stream slot of a caller (`Caller.principal`; false: none left); `release` gives it back. */
  acquire(principal: string): boolean {
    const n = this.perKey.get(principal) ?? 0;
    if (n >= this.maxStreamsPerKey) return false;
    this.perKey.set(principal, n + 1);
    return true;
  }

  release(principal: string): void {
    const n = (this.perKey.get(principal) ?? 1) - 1;
    if (n <= 0) this.perKey.delete(principal);
    else this.perKey.set(principal, n);
  }

  /** Keeps `end` (which ends a stream) until `untrack`; `close` calls every one kept. */
  track(end: () => void): () => void {
    this.open.add(end);
    return () => this.open.delete(end);
  }

  /**
   * Ends every open stream (shutdown: an HTTP server does not close while a stream is open); clients
   * reconnect, to another replica, with `Last-Event-ID`.
   */
  close(): void {
    for (const end of [...this.open]) end();
  }

  private connection(): Redis {
    if (this.sub) return this.sub;
    // Named (CLIENT LIST) after the key prefix: an operator, or a test, can tell it from other connections.
    const sub = this.redis.duplicate({ maxRetriesPerRequest: 1, connectionName: `${this.prefix}:debug-events` });
    const fail = (err: Error) => {
      if (this.sub !== sub) return;
      this.sub = undefined;
      const all = [...this.listeners.values()].flatMap((set) => [...set]);
      this.listeners.clear();
      sub.disconnect();
      for (const l of new Set(all)) l.failed(err);
    };
    sub.on('error', (err: Error) => fail(err));
    sub.on('close', () => fail(new Error('the Redis connection closed')));
    const keys = redisKeys(this.prefix);
    sub.on('message', (channel: string, message: string) => {
      if (channel === keys.debugSessionChanged) {
        for (const l of this.listeners.get(recordsStoredChannel(this.prefix, message)) ?? []) l.session();
      } else if (channel === keys.apiKeyChanged) {
        for (const set of this.listeners.values()) for (const l of set) if (l.keyHash === message) l.keyChanged();
      } else for (const l of this.listeners.get(channel) ?? []) l.records();
    });
    this.sub = sub;
    return sub;
  }

  /** Listens to a server's stored records and session changes; resolves once subscribed. Returns the unsubscribe. */
  async listen(serverId: string, listener: Listener): Promise<() => void> {
    const channel = recordsStoredChannel(this.prefix, serverId);
    const sub = this.connection();
    let set = this.listeners.get(channel);
    const first = !set;
    if (!set) this.listeners.set(channel, (set = new Set()));
    set.add(listener);
    const unlisten = () => {
      const current = this.listeners.get(channel);
      if (!current?.delete(listener) || current.size > 0) return;
      this.listeners.delete(channel);
      if (this.sub !== sub) return;
      if (this.listeners.size === 0) {
        this.sub = undefined;
        sub.disconnect();
      } else sub.unsubscribe(channel).catch(() => undefined);
    };
    if (first) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          sub.subscribe(channel, redisKeys(this.prefix).debugSessionChanged, redisKeys(this.prefix).apiKeyChanged),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error('Redis did not answer SUBSCRIBE')), SUBSCRIBE_TIMEOUT_MS);
          }),
        ]);
      } catch (err) {
        unlisten();
        throw err;
      } finally {
        clearTimeout(timer);
      }
    }
    return unlisten;
  }
}

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
 * token expired (at its `exp`). The session and server were checked by the caller (404s); `session` is
 * the row read then.
 */
export async function streamDebugEvents(
  hub: DebugEventHub,
  db: Db,
  req: Request,
  res: Response,
  initial: SessionRow,
): Promise<void> {
  const me = caller(req);
  const principal = me.principal;
  if (!hub.acquire(principal))
    throw new UserError(
      'request.rate_limited',
      `${credentialName(me)} already has ${hub.maxStreamsPerKey} debug event streams open on this control plane; close one`,
      { status: 429, details: { retryAfterSeconds: 5 } },
    );
  let session = initial;
  const serverId = session.serverId;
  const log = hub.log.child({ serverId, sessionId: session.id });
  let closed = false;
  let unlisten: (() => void) | undefined;
  const timers: { heartbeat?: NodeJS.Timeout; end?: NodeJS.Timeout; expiry?: NodeJS.Timeout } = {};
  const untrack = hub.track(() => {
    cleanup();
    res.end();
  });
  const cleanup = () => {
    if (closed) return;
    closed = true;
    untrack();
    clearInterval(timers.heartbeat);
    clearTimeout(timers.end);
    clearTimeout(timers.expiry);
    unlisten?.();
    hub.release(principal);
    log.debug({ streams: hub.streams, subscriptions: hub.subscriptions }, 'debug event stream closed');
  };
  res.on('close', cleanup);

  // Resuming: the record named by Last-Event-ID (one of this server's, in the session) is where the stream was.
  const lastId = req.header('last-event-id')?.trim();
  let floor: Cursor | undefined;
  try {
    if (isUuid(lastId)) {
      const rows = await db.$queryRawUnsafe<Row[]>(
        `SELECT ${columns} FROM execution_records WHERE id = $1::uuid AND server_id = $2::uuid`,
        lastId,
        serverId,
      );
      if (rows[0]) floor = { finishMs: rows[0].finishMs, id: rows[0].id };
    }
  } catch (err) {
    cleanup();
    throw err;
  }
  let cursor = floor;
  /** Ids sent on this connection whose calls finished within LATE_MS of the cursor. */
  const sent = new Map<string, number>();

  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  const write = (text: string) => {
    if (!closed) res.write(text);
  };
  const finish = (event: 'end' | 'error', data: unknown) => {
    if (closed) return;
    write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    cleanup();
    res.end();
  };
  const fail = (err: unknown) => {
    log.warn({ err }, 'debug event stream failed');
    finish('error', {
      code: 'service.unavailable',
      detail: `the stream cannot follow new records: ${err instanceof Error ? err.message : String(err)}`,
    });
  };

  /** Sends what was stored since the last read (the newest state of PostgreSQL). */
  const read = async () => {
    for (;;) {
      const from = Math.max(floor?.finishMs ?? 0, (cursor?.finishMs ?? 0) - LATE_MS);
      const rows = await db.$queryRawUnsafe<Row[]>(
        `SELECT ${columns} FROM execution_records
         WHERE server_id = $1::uuid
           AND started_at >= (to_timestamp($2::float8 / 1000) AT TIME ZONE 'UTC')
           AND started_at < (to_timestamp($3::float8 / 1000) AT TIME ZONE 'UTC')
           AND extract(epoch FROM started_at) * 1000 + duration_ms >= $4::float8
         ORDER BY "finishMs", id
         LIMIT ${PAGE + sent.size}`,
        serverId,
        session.openedAt.getTime(),
        endOf(session).getTime(),
        from,
      );
      const fresh = rows.filter((r) => !sent.has(r.id) && after(r, floor));
      for (const r of fresh) {
        if (closed) return;
        // A late record (finished before the cursor) repeats the cursor's id: a resume starts after the cursor.
        if (after(r, cursor)) cursor = { finishMs: r.finishMs, id: r.id };
        sent.set(r.id, r.finishMs);
        write(`event: record\nid: ${cursor!.id}\ndata: ${JSON.stringify(presentRecord(r, false))}\n\n`);
      }
      for (const [id, f] of sent) if (f < (cursor?.finishMs ?? 0) - LATE_MS) sent.delete(id);
      if (rows.length < PAGE + sent.size || fresh.length === 0) return;
    }
  };
  // Reads never overlap: a notification during a read makes it read once more.
  let reading: Promise<void> | undefined;
  let again = false;
  const pump = (): Promise<void> => {
    if (reading) {
      again = true;
      return reading;
    }
    reading = (async () => {
      try {
        do {
          again = false;
          await read();
        } while (again && !closed);
      } finally {
        reading = undefined;
      }
    })();
    return reading;
  };
  const pumpOrFail = () => void pump().catch(fail);

  /** Ends the stream when the session was stopped or its time is up (after sending its last records). */
  const checkSession = async () => {
    const row = (await db.debugSession.findFirst({ where: { id: session.id } })) as SessionRow | null;
    if (row) session = row;
    const end = endOf(session);
    if (row && end > new Date()) return;
    await pump();
    finish('end', {
      session_id: session.id,
      reason: row?.closedAt && row.closedAt <= session.endsAt ? 'stopped' : 'ended',
      ended_at: end.toISOString(),
    });
  };
  const checkOrFail = () => void checkSession().catch(fail);

  /** Ends the stream with `event: error` (what REST would answer now): the credential no longer reaches the server. */
  const refuse = (code: string, detail: string) => {
    if (closed) return;
    log.info({ principal, code }, 'debug event stream ended: its credential no longer reaches the server');
    finish('error', { code, detail });
  };
  const checkKey = async () => {
    if (me.keyHash === undefined || closed) return;
    const denied = await keyAccessError(db, me.keyHash, serverId);
    if (denied) refuse(denied.code, `${denied.message}: the stream ended`);
  };
  const checkKeyOrFail = () => void checkKey().catch(fail);

  try {
    unlisten = await hub.listen(serverId, {
      keyHash: me.keyHash,
      records: pumpOrFail,
      session: checkOrFail,
      keyChanged: checkKeyOrFail,
      failed: fail,
    });
  } catch (err) {
    fail(err);
    return;
  }
  if (closed) return unlisten();
  // An access token ends the stream when it expires; a key is checked again now that its changes are heard
  // (one revoked between the authentication and the subscription would otherwise keep the stream).
  if (me.expiresAt !== undefined) {
    const expire = () => refuse('auth.invalid_token', 'the access token has expired: the stream ended');
    const ms = me.expiresAt - Date.now();
    if (ms <= 0) return expire();
    timers.expiry = setTimeout(expire, Math.min(ms, 2 ** 31 - 1));
  }
  try {
    await checkKey();
  } catch (err) {
    fail(err);
    return;
  }
  if (closed) return;
  log.debug(
    { streams: hub.streams, subscriptions: hub.subscriptions, resumeAfter: floor?.id },
    'debug event stream opened',
  );
  write('retry: 2000\n\n');
  timers.heartbeat = setInterval(() => {
    write(': keep-alive\n\n');
    checkOrFail();
    checkKeyOrFail(); // belt and braces: a key change whose announcement was lost ends the stream here
  }, HEARTBEAT_MS);
  const untilEnd = endOf(session).getTime() - Date.now();
  if (untilEnd > 0) timers.end = setTimeout(checkOrFail, Math.min(untilEnd + 100, 2 ** 31 - 1));
  // The records stored so far, then the session's state (it may have ended already).
  try {
    await pump();
    await checkSession();
  } catch (err) {
    fail(err);
  }
}
