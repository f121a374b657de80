import type { Cluster, Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import type { ApprovalState } from '@toolplane/contracts';
import { runScript } from './quota-refunds.ts';

/**
 * Approval requests in Redis (ADR 0049): one hash per call binding (`approvalKey`), so that every edge sees the same
 * request and one script decides each step on one key. The edge asks (`requestApproval`: a new request, still pending,
 * refused, or granted and spent in the same script, single use) and puts an approval back when a later check refused
 * the call (`restoreApproval`); the control plane writes a decision (`decideApproval`), once.
 */

/**
 * KEYS[1]: the binding's hash; KEYS[2] (with a cap): the caller's pending set for the tool (`approvalPendingKey`).
 * ARGV: new id, now (ms), its expiry (ms), key ttl (ms), the task to hold the call ('' for none), the cap on the
 * caller's undecided requests for the tool (0: none). Before a new request is made, the pending set drops its members
 * past their expiry or no longer pending (each member is a binding's key, in the same slot); as many as the cap left
 * refuse it (`{capped, n}`), else the new one joins the set. A pending or granted request past its expiry becomes
 * `expired` (told once, `{expired, id, 1}` from here,
 * `{expired, id, 0}` when the control plane found it so); a granted one is spent (`executed`), unless a task holds it
 * (`held`: its parked job spends it); a denial holds until the request's expiry. Otherwise (no request, one spent,
 * expiry told, a denial past its time) a new request is made. A task's call makes the request's holder, or joins a
 * pending one nobody holds (`{pending, id, 'parked'}`); a held request answers its holder (`{pending, id, <task>}`).
 */
const REQUEST = `
local key = KEYS[1]
local now = tonumber(ARGV[2])
local park = ARGV[5]
local state = redis.call('HGET', key, 'state')
local id = redis.call('HGET', key, 'id')
local exp = tonumber(redis.call('HGET', key, 'expiresAt') or '0')
if state == 'pending' or state == 'granted' then
  if now >= exp then
    redis.call('HSET', key, 'state', 'expired', 'told', '1')
    return {'expired', id, '1'}
  end
  local task = redis.call('HGET', key, 'task')
  if state == 'pending' then
    if park ~= '' and not task then
      redis.call('HSET', key, 'task', park)
      return {'pending', id, 'parked', tostring(exp)}
    end
    return {'pending', id, task or ''}
  end
  if task then return {'held', id, task} end
  redis.call('HSET', key, 'state', 'executed')
  return {'granted', id}
end
if state == 'expired' and not redis.call('HGET', key, 'told') then
  redis.call('HSET', key, 'told', '1')
  return {'expired', id, '0'}
end
if state == 'denied' and now < exp then
  return {'denied', id, redis.call('HGET', key, 'comment') or ''}
end
local cap = tonumber(ARGV[6] or '0')
if cap > 0 then
  local set = KEYS[2]
  redis.call('ZREMRANGEBYSCORE', set, '-inf', now)
  local open = 0
  for _, member in ipairs(redis.call('ZRANGE', set, 0, -1)) do
    if member ~= key and redis.call('HGET', member, 'state') == 'pending' then
      open = open + 1
    else
      redis.call('ZREM', set, member)
    end
  end
  if open >= cap then return {'capped', '', tostring(open)} end
  redis.call('ZADD', set, ARGV[3], key)
  if redis.call('PTTL', set) < tonumber(ARGV[4]) then redis.call('PEXPIRE', set, ARGV[4]) end
end
redis.call('DEL', key)
redis.call('HSET', key, 'id', ARGV[1], 'state', 'pending', 'expiresAt', ARGV[3])
if park ~= '' then redis.call('HSET', key, 'task', park) end
redis.call('PEXPIRE', key, ARGV[4])
return {'created', ARGV[1]}
`;

/**
 * KEYS[1]: the binding's hash. ARGV: the request's id, the task holding it, where its job waits (the queue shard's
 * BullMQ prefix), or '' to let go of it (its job could not be queued). Answers the request's state ('' when it is
 * gone or held by another): a request decided before its job's place was written is not promoted by the control
 * plane, so the edge does it.
 */
const PARK = `
local key = KEYS[1]
if redis.call('HGET', key, 'id') ~= ARGV[1] or redis.call('HGET', key, 'task') ~= ARGV[2] then return '' end
if ARGV[3] == '' then
  redis.call('HDEL', key, 'task', 'queue')
else
  redis.call('HSET', key, 'queue', ARGV[3])
end
return redis.call('HGET', key, 'state')
`;

/**
 * KEYS[1]: the binding's hash. ARGV: the request's id, the task's invocation id, now (ms). What a held call's job
 * finds when it starts: `run` (a grant, spent now by this job; or already by this job, a re-delivery), `spent` (by
 * another call), `denied` (+ comment), `pending` (not decided yet, before its expiry), `expired` (+ '1' when found so
 * here), `lost` (no such request).
 */
const START = `
local key = KEYS[1]
if redis.call('HGET', key, 'id') ~= ARGV[1] then return {'lost'} end
local state = redis.call('HGET', key, 'state')
if state == 'granted' then
  redis.call('HSET', key, 'state', 'executed', 'runBy', ARGV[2])
  return {'run'}
end
if state == 'executed' then
  if redis.call('HGET', key, 'runBy') == ARGV[2] then return {'run'} end
  return {'spent'}
end
if state == 'denied' then return {'denied', redis.call('HGET', key, 'comment') or ''} end
if state == 'pending' then
  if tonumber(ARGV[3]) < tonumber(redis.call('HGET', key, 'expiresAt') or '0') then return {'pending'} end
  redis.call('HSET', key, 'state', 'expired', 'told', '1')
  return {'expired', '1'}
end
return {'expired', '0'}
`;

/** KEYS[1]: the binding's hash; ARGV[1]: the request's id. A spent approval of that request is granted again. */
const RESTORE = `
if redis.call('HGET', KEYS[1], 'id') == ARGV[1] and redis.call('HGET', KEYS[1], 'state') == 'executed' then
  redis.call('HSET', KEYS[1], 'state', 'granted')
  return 1
end
return 0
`;

/**
 * KEYS[1]: the binding's hash. ARGV: id, decision (granted | denied | expired), its expiry (ms), now (ms), key ttl
 * (ms), comment. Only a pending request of that id is decided: answers `ok`, else the state it has (`expired` when
 * found past its time: written so), or `superseded` when the key holds another request. A request Redis lost (a
 * restart without its data) is written again from the control plane's row.
 */
const DECIDE = `
local key = KEYS[1]
local id = redis.call('HGET', key, 'id')
if id and id ~= ARGV[1] then return 'superseded' end
local state = redis.call('HGET', key, 'state')
if state and state ~= 'pending' then return state end
if not id then
  redis.call('HSET', key, 'id', ARGV[1], 'expiresAt', ARGV[3])
  redis.call('PEXPIRE', key, ARGV[5])
end
if tonumber(ARGV[4]) >= tonumber(ARGV[3]) then
  redis.call('HSET', key, 'state', 'expired')
  return 'expired'
end
redis.call('HSET', key, 'state', ARGV[2])
if ARGV[6] ~= '' then redis.call('HSET', key, 'comment', ARGV[6]) end
local task = redis.call('HGET', key, 'task')
if task then return {'ok', task, redis.call('HGET', key, 'queue') or ''} end
return 'ok'
`;

/** A script's SHA-1, what EVALSHA names it by. */
const sha = (body: string) => createHash('sha1').update(body).digest('hex');

const scripts = {
  request: { body: REQUEST, sha: sha(REQUEST) },
  restore: { body: RESTORE, sha: sha(RESTORE) },
  decide: { body: DECIDE, sha: sha(DECIDE) },
  park: { body: PARK, sha: sha(PARK) },
  start: { body: START, sha: sha(START) },
};

/** What the edge's ask found: a new request, one still pending, a refusal, or an approval now spent on this call. */
export type ApprovalAsk =
  | { readonly kind: 'granted'; readonly id: string }
  /** `parked`: the asking task now holds the request (until `expiresAt`, epoch ms); `task`: another task holds it. */
  | {
      readonly kind: 'created' | 'pending';
      readonly id: string;
      readonly parked?: { readonly expiresAt: number };
      readonly task?: string;
    }
  /** Granted, for the task holding it: its parked job spends it, not a retry. */
  | { readonly kind: 'held'; readonly id: string; readonly task: string }
  | { readonly kind: 'denied'; readonly id: string; readonly comment: string }
  /** `found`: this ask found it past its expiry (its event is the edge's); else the control plane had. */
  | { readonly kind: 'expired'; readonly id: string; readonly found: boolean }
  /** No request was made: the caller has `pending` undecided requests for the tool, the cap. */
  | { readonly kind: 'capped'; readonly pending: number };

/** How long a request's key outlives its expiry: an expiry or a denial can still be told to a retry. */
function approvalKeyTtlMs(expiresInSeconds: number): number {
  return 2 * expiresInSeconds * 1000;
}

/** The edge's one step for a call needing approval (see REQUEST). */
export async function requestApproval(
  redis: Redis | Cluster,
  key: string,
  ask: {
    newId: string;
    now: number;
    expiresInSeconds: number;
    parkTask?: string | undefined;
    /** At most `max` undecided requests of this caller for this tool, counted in the set `key`. */
    cap?: { key: string; max: number } | undefined;
  },
): Promise<ApprovalAsk> {
  const expiresAt = ask.now + ask.expiresInSeconds * 1000;
  const ttl = approvalKeyTtlMs(ask.expiresInSeconds);
  const args = [ask.newId, ask.now, expiresAt, ttl, ask.parkTask ?? '', ask.cap?.max ?? 0];
  const keys = ask.cap ? [key, ask.cap.key] : [key];
  const [kind, id, extra, exp] = (await runScript(redis, scripts.request, keys, args)) as [
    string,
    string,
    string | undefined,
    string | undefined,
  ];
  if (kind === 'denied') return { kind, id, comment: extra ?? '' };
  if (kind === 'expired') return { kind, id, found: extra === '1' };
  if (kind === 'capped') return { kind, pending: Number(extra) };
  if (kind === 'held') return { kind, id, task: extra ?? '' };
  if (kind === 'created') return { kind, id, ...(ask.parkTask ? { parked: { expiresAt } } : {}) };
  if (kind === 'pending')
    return {
      kind,
      id,
      ...(extra === 'parked' ? { parked: { expiresAt: Number(exp) } } : extra ? { task: extra } : {}),
    };
  return { kind: 'granted', id };
}

/**
 * Where a held call's job waits (`queuePrefix`: its shard's BullMQ prefix), or '' to let go of the request (the job
 * could not be queued). Answers the request's state, '' when it is no longer this task's.
 */
export async function parkApproval(
  redis: Redis | Cluster,
  key: string,
  p: { id: string; taskId: string; queuePrefix: string },
): Promise<string> {
  return String((await runScript(redis, scripts.park, [key], [p.id, p.taskId, p.queuePrefix])) ?? '');
}

/** What a held call's job found when it started (see START). */
export type ApprovedJobStart =
  | { readonly kind: 'run' | 'spent' | 'pending' | 'lost' }
  | { readonly kind: 'denied'; readonly comment: string }
  | { readonly kind: 'expired'; readonly found: boolean };

/** The worker's step before a held call's job runs: it runs only on a grant, which it spends (see START). */
export async function startApprovedJob(
  redis: Redis | Cluster,
  key: string,
  s: { id: string; invocationId: string; now: number },
): Promise<ApprovedJobStart> {
  const [kind, extra] = (await runScript(redis, scripts.start, [key], [s.id, s.invocationId, s.now])) as [
    string,
    string | undefined,
  ];
  if (kind === 'denied') return { kind, comment: extra ?? '' };
  if (kind === 'expired') return { kind, found: extra === '1' };
  return { kind: kind as 'run' | 'spent' | 'pending' | 'lost' };
}

/** Gives a spent approval back (the call it was spent on was refused by a later check): true if it was. */
export async function restoreApproval(redis: Redis | Cluster, key: string, id: string): Promise<boolean> {
  return (await runScript(redis, scripts.restore, [key], [id])) === 1;
}

/** The outcome of writing a decision: written (`ok`), or why not. */
export type ApprovalDecisionOutcome = 'ok' | 'superseded' | Exclude<ApprovalState, 'pending'>;

/** A decided request a task holds: its job waits in the queue (`queuePrefix`, '' if not yet known) to be promoted. */
export interface HeldApprovalJob {
  readonly taskId: string;
  readonly queuePrefix: string;
}

/** The control plane's decision on a pending request (see DECIDE). */
export async function decideApproval(
  redis: Redis | Cluster,
  key: string,
  d: {
    id: string;
    decision: 'granted' | 'denied' | 'expired';
    expiresAt: number;
    expiresInSeconds: number;
    comment?: string | undefined;
    now?: number;
  },
): Promise<{ outcome: ApprovalDecisionOutcome; held?: HeldApprovalJob }> {
  const ttl = approvalKeyTtlMs(d.expiresInSeconds);
  const args = [d.id, d.decision, d.expiresAt, d.now ?? Date.now(), ttl, d.comment ?? ''];
  const r = (await runScript(redis, scripts.decide, [key], args)) as ApprovalDecisionOutcome | [string, string, string];
  if (!Array.isArray(r)) return { outcome: r };
  return { outcome: 'ok', held: { taskId: r[1], queuePrefix: r[2] } };
}
