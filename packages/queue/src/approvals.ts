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

const sha = (body: string) => createHash('sha1').update(body).digest('hex');

/**
 * KEYS[1]: the binding's hash. ARGV: new id, now (ms), its expiry (ms), key ttl (ms). A pending or granted request
 * past its expiry becomes `expired` (told once, `{expired, id, 1}` from here, `{expired, id, 0}` when the control
 * plane found it so); a granted one is spent (`executed`); a denial holds until the request's expiry. Otherwise (no
 * request, one spent, expiry told, a denial past its time) a new request is made.
 */
const REQUEST = `
local key = KEYS[1]
local now = tonumber(ARGV[2])
local state = redis.call('HGET', key, 'state')
local id = redis.call('HGET', key, 'id')
local exp = tonumber(redis.call('HGET', key, 'expiresAt') or '0')
if state == 'pending' or state == 'granted' then
  if now >= exp then
    redis.call('HSET', key, 'state', 'expired', 'told', '1')
    return {'expired', id, '1'}
  end
  if state == 'pending' then return {'pending', id} end
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
redis.call('DEL', key)
redis.call('HSET', key, 'id', ARGV[1], 'state', 'pending', 'expiresAt', ARGV[3])
redis.call('PEXPIRE', key, ARGV[4])
return {'created', ARGV[1]}
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
return 'ok'
`;

const scripts = {
  request: { body: REQUEST, sha: sha(REQUEST) },
  restore: { body: RESTORE, sha: sha(RESTORE) },
  decide: { body: DECIDE, sha: sha(DECIDE) },
};

/** What the edge's ask found: a new request, one still pending, a refusal, or an approval now spent on this call. */
export type ApprovalAsk =
  | { readonly kind: 'created' | 'pending' | 'granted'; readonly id: string }
  | { readonly kind: 'denied'; readonly id: string; readonly comment: string }
  /** `found`: this ask found it past its expiry (its event is the edge's); else the control plane had. */
  | { readonly kind: 'expired'; readonly id: string; readonly found: boolean };

/** How long a request's key outlives its expiry: an expiry or a denial can still be told to a retry. */
function approvalKeyTtlMs(expiresInSeconds: number): number {
  return 2 * expiresInSeconds * 1000;
}

/** The edge's one step for a call needing approval (see REQUEST). */
export async function requestApproval(
  redis: Redis | Cluster,
  key: string,
  ask: { newId: string; now: number; expiresInSeconds: number },
): Promise<ApprovalAsk> {
  const expiresAt = ask.now + ask.expiresInSeconds * 1000;
  const ttl = approvalKeyTtlMs(ask.expiresInSeconds);
  const [kind, id, extra] = (await runScript(redis, scripts.request, [key], [ask.newId, ask.now, expiresAt, ttl])) as [
    string,
    string,
    string | undefined,
  ];
  if (kind === 'denied') return { kind, id, comment: extra ?? '' };
  if (kind === 'expired') return { kind, id, found: extra === '1' };
  return { kind: kind as 'created' | 'pending' | 'granted', id };
}

/** Gives a spent approval back (the call it was spent on was refused by a later check): true if it was. */
export async function restoreApproval(redis: Redis | Cluster, key: string, id: string): Promise<boolean> {
  return (await runScript(redis, scripts.restore, [key], [id])) === 1;
}

/** The outcome of writing a decision: written (`ok`), or why not. */
export type ApprovalDecisionOutcome = 'ok' | 'superseded' | Exclude<ApprovalState, 'pending'>;

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
): Promise<ApprovalDecisionOutcome> {
  const ttl = approvalKeyTtlMs(d.expiresInSeconds);
  const args = [d.id, d.decision, d.expiresAt, d.now ?? Date.now(), ttl, d.comment ?? ''];
  return (await runScript(redis, scripts.decide, [key], args)) as ApprovalDecisionOutcome;
}
