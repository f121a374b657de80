import type { Cluster, Redis } from 'ioredis';
import { createHash } from 'node:crypto';
import {
  labelSources,
  resultLabels,
  sessionKey,
  type LabelOrigin,
  type ResultLabel,
  type SessionOfJob,
} from '@toolplane/contracts';
import { runScript } from './quota-refunds.ts';

/**
 * Sessions' labels in Redis (ADR 0078): one hash per session scope (`sessionKey`), written by the worker as a result
 * leaves it (what the result brought, and the call), read by the edges' session stage and the worker's step checks.
 * Every scope of a workspace shares its hash tag, so one script writes all of a call's scopes on a Redis Cluster too.
 * Bounded: a scope keeps one field per label (the latest result that brought it) and at most `MAX_CALL_FIELDS` tools'
 * call counts; it expires its lifetime after its last write.
 */

/** The most tools one session scope counts calls of; past it, calls of further tools are not counted. */
export const MAX_CALL_FIELDS = 200;

/**
 * KEYS: the scopes' hashes. ARGV[1]: ttl (ms); ARGV[2]: the call's field (`c:<server>/<tool>`, '' for none); ARGV[3]:
 * now (ms); ARGV[4]: the cap on call fields; then pairs of a label's field and its origin (JSON). Each hash gets every
 * label, its call counted (`count:firstAt:lastAt`, a new tool only under the cap), and its expiry renewed.
 */
const ADD = `
local ttl = ARGV[1]
local call = ARGV[2]
local now = ARGV[3]
local cap = tonumber(ARGV[4])
for i = 1, #KEYS do
  local key = KEYS[i]
  for j = 5, #ARGV, 2 do redis.call('HSET', key, ARGV[j], ARGV[j + 1]) end
  if call ~= '' then
    local was = redis.call('HGET', key, call)
    if was then
      local count, first = string.match(was, '^(%d+):(%d+):')
      redis.call('HSET', key, call, tostring(tonumber(count) + 1) .. ':' .. first .. ':' .. now)
    elseif redis.call('HLEN', key) - redis.call('HEXISTS', key, 'l:private') - redis.call('HEXISTS', key, 'l:untrusted') < cap then
      redis.call('HSET', key, call, '1:' .. now .. ':' .. now)
    end
  end
  redis.call('PEXPIRE', key, ttl)
end
return 1
`;
const add = { body: ADD, sha: createHash('sha1').update(ADD).digest('hex') };

/** What one result brings into its session: its labels (with how each was found) and whether the call is counted. */
export interface SessionEntry {
  readonly tool: string;
  readonly serverId: string;
  readonly invocationId: string;
  readonly at: number;
  readonly labels: readonly { label: ResultLabel; source: LabelOrigin['source']; detector?: string }[];
  /** Count the call itself (`session.calls`); false: only labels, nothing written when there are none. */
  readonly countCall: boolean;
}

/** Adds a result's labels (and its call) to every scope of its session; nothing to write: no command. */
export async function addToSession(
  redis: Redis | Cluster,
  where: { prefix: string; workspaceId: string; session: SessionOfJob },
  entry: SessionEntry,
): Promise<void> {
  if (entry.labels.length === 0 && !entry.countCall) return;
  const { prefix, workspaceId, session } = where;
  const keys = session.scopes.map((scope) => sessionKey(prefix, workspaceId, scope));
  const args: string[] = [
    String(session.ttlSeconds * 1000),
    entry.countCall ? `c:${entry.serverId}/${entry.tool}` : '',
    String(entry.at),
    String(MAX_CALL_FIELDS),
  ];
  const seen = new Set<string>();
  for (const l of entry.labels) {
    if (seen.has(l.label)) continue;
    seen.add(l.label);
    const origin: LabelOrigin = {
      label: l.label,
      source: l.source,
      tool: entry.tool,
      serverId: entry.serverId,
      invocationId: entry.invocationId,
      at: entry.at,
      ...(l.detector !== undefined ? { detector: l.detector } : {}),
      ...(session.via !== undefined ? { via: session.via } : {}),
    };
    args.push(`l:${l.label}`, JSON.stringify(origin));
  }
  await runScript(redis, add, keys, args);
}

/** One tool's calls in a session: how many, the first and the last (epoch ms). */
interface SessionCall {
  readonly serverId: string;
  readonly tool: string;
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
}

/** A session as rules read it: its labels (the latest origin of each, over all its scopes) and its calls. */
export interface SessionView {
  readonly labels: ReadonlyMap<ResultLabel, LabelOrigin>;
  readonly calls: readonly SessionCall[];
}

/** Reads every scope of a session (one command each, sent together) and merges them. */
export async function readSession(
  redis: Redis | Cluster,
  where: { prefix: string; workspaceId: string; scopes: readonly string[] },
): Promise<SessionView> {
  const hashes = await Promise.all(
    where.scopes.map((scope) => redis.hgetall(sessionKey(where.prefix, where.workspaceId, scope))),
  );
  const labels = new Map<ResultLabel, LabelOrigin>();
  const calls = new Map<string, SessionCall>();
  for (const hash of hashes) {
    for (const [field, value] of Object.entries(hash)) {
      if (field.startsWith('l:')) mergeLabel(labels, value);
      else if (field.startsWith('c:')) mergeCall(calls, field.slice(2), value);
    }
  }
  return { labels, calls: [...calls.values()] };
}

function mergeLabel(labels: Map<ResultLabel, LabelOrigin>, value: string): void {
  const origin = originOf(value);
  if (!origin) return;
  const was = labels.get(origin.label);
  if (!was || was.at < origin.at) labels.set(origin.label, origin);
}

/** A stored origin, checked field by field (a damaged or forged field is no label); undefined when it is not one. */
function originOf(value: string): LabelOrigin | undefined {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(value) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  if (typeof o !== 'object' || o === null) return undefined;
  const { label, source, tool, serverId, invocationId, at, detector, via } = o;
  const ok =
    (resultLabels as readonly unknown[]).includes(label) &&
    (labelSources as readonly unknown[]).includes(source) &&
    typeof tool === 'string' &&
    typeof serverId === 'string' &&
    typeof invocationId === 'string' &&
    typeof at === 'number' &&
    Number.isFinite(at) &&
    (detector === undefined || typeof detector === 'string') &&
    (via === undefined || typeof via === 'string');
  return ok ? (o as unknown as LabelOrigin) : undefined;
}

function mergeCall(calls: Map<string, SessionCall>, name: string, value: string): void {
  const m = /^(\d+):(\d+):(\d+)$/.exec(value);
  const slash = name.indexOf('/');
  if (!m || slash < 0) return;
  const [count, firstAt, lastAt] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const was = calls.get(name);
  calls.set(name, {
    serverId: name.slice(0, slash),
    tool: name.slice(slash + 1),
    count: Math.max(count, was?.count ?? 0),
    firstAt: Math.min(firstAt, was?.firstAt ?? firstAt),
    lastAt: Math.max(lastAt, was?.lastAt ?? lastAt),
  });
}

/** Ends a session: every scope's labels and calls dropped (an admin's act; the audit trail says who). */
export async function clearSession(
  redis: Redis | Cluster,
  where: { prefix: string; workspaceId: string; scopes: readonly string[] },
): Promise<number> {
  let n = 0;
  for (const scope of where.scopes) n += await redis.del(sessionKey(where.prefix, where.workspaceId, scope));
  return n;
}
