import { createHash } from 'node:crypto';
import {
  accessWouldRefuseEvent,
  auditActor,
  CallerFacets,
  conditionRefusalEvent,
  decisionOutcome,
  delegationRefusalEvent,
  falseDelegationCondition,
  judgePortable,
  quotaEvent,
  refusingPolicy,
  ruleCallerOf,
  ruleDecisionEvent,
  rulePlan,
  settingsFor,
  shadowRefusals,
  stepConditions,
  stepRefusal,
  type CallEventBase,
  type PortableRule,
} from '@toolplane/access';
import {
  EventSubscription,
  type AuditEventInput,
  quotaTakesCaller,
  quotaTakesTool,
  subscriptionsKey,
  subscriptionStreamKey,
  type CatalogEventType,
  type EventOccurrence,
  type WorkspaceAccess,
} from '@toolplane/contracts';
import { applyGuardrails, guardrailsFor } from '@toolplane/guardrails';
import {
  removeSubscription,
  subscriberRefusal,
  type ChargeOutcome,
  type DelegationBudget,
  type QuotaMeter,
} from '@toolplane/queue';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import { currentTraceIds } from '@toolplane/telemetry';
import type { SessionStore } from '../session-labels.ts';
import type { ServerEvents } from './sources.ts';

/** The field of a subscription stream's entry holding the occurrence (JSON `EventOccurrence`). */
export const OCCURRENCE_FIELD = 'occurrence';

export interface FanOutDeps {
  redis: RedisClient;
  /** The Redis prefix of published state: each subscriber's key, token and person are judged from it. */
  prefix: string;
  /** Subscribers that stood at their last judgement, kept until a change is announced (absent: judged every time). */
  standings?: { refusal: typeof subscriberRefusal } | undefined;
  log: Pick<Logger, 'info' | 'warn'>;
  sessions: Pick<SessionStore, 'add'>;
  workspaceAccess: (workspaceId: string) => Promise<WorkspaceAccess | undefined>;
  /** Counts each occurrence given against the subscriber's quotas on the event type (ADR 0048's counters). */
  quotaMeter: Pick<QuotaMeter, 'charge'>;
  /** A narrowed token's limits on calls, spent by each occurrence given to its subscriptions (absent: none is given). */
  budget?: Pick<DelegationBudget, 'charge' | 'refund'>;
  maxScanBytes: number;
  streamMaxLen: number;
  now: () => number;
  /** A webhook subscription's stream got an entry: its deliverer is woken. */
  webhookEntry: (instanceId: string, subscriptionId: string) => void;
  /**
   * Where an occurrence's decisions are written as a call's are (`@toolplane/access` call-events): a condition's or a
   * narrowed token's refusal, a quota's refusal, log-only policies' and quotas' would-be refusals (absent: nowhere).
   */
  audit?: { add(event: AuditEventInput): void } | undefined;
}

/**
 * Which subscriptions an occurrence was given to (a hash under the instance's hash tag, field: the subscription id),
 * so a fan-out run again (its job stalled when a worker died, and retried) gives each subscription what it was not
 * given yet, and nothing twice. Removed once the delivery is in the seen set (`forgetGiven`); else it lapses.
 */
export const givenKey = (instanceId: string, eventId: string): string =>
  `{ev:${instanceId}}:given:${createHash('sha256').update(eventId).digest('hex').slice(0, 32)}`;

/** How long a fan-out's record of what it gave outlives it when its run did not end (a dead worker's). */
const GIVEN_TTL_MS = 3_600_000;

/**
 * Appends an occurrence to a subscription's stream unless it was given to it already (KEYS: the given hash, the
 * stream; ARGV: the subscription id, the hash's lifetime, the stream's length, the occurrence's JSON): 1 appended,
 * 0 given before. One script: a re-run racing the first cannot both append.
 */
const GIVE_ONCE = `
if redis.call('HSETNX', KEYS[1], ARGV[1], '1') == 0 then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', '${OCCURRENCE_FIELD}', ARGV[4])
return 1`;

/** Drops the record of what an occurrence was given to (its delivery is in the seen set from now on). */
export async function forgetGiven(deps: Pick<FanOutDeps, 'redis'>, instanceId: string, eventId: string) {
  await deps.redis.del(givenKey(instanceId, eventId));
}

/** What happened to one occurrence for one subscription (logged and counted; never the payload). */
export type Given = { id: string; given: true } | { id: string; given: false; why: string };

/** The JSON Pointer's value in `data` (undefined when it leads nowhere). */
export function pointerValue(data: unknown, pointer: string): unknown {
  if (pointer === '') return data;
  let at: unknown = data;
  for (const raw of pointer.slice(1).split('/')) {
    const step = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object') return undefined;
    at = (at as Record<string, unknown>)[step];
  }
  return at;
}

/** Whether the subscription's arguments named in the event type's `filters` equal the payload's values there. */
export function passesFilters(type: CatalogEventType, args: Readonly<Record<string, unknown>>, data: unknown): boolean {
  for (const [arg, pointer] of Object.entries(type.filters ?? {})) {
    if (!(arg in args)) continue;
    if (JSON.stringify(pointerValue(data, pointer)) !== JSON.stringify(args[arg])) return false;
  }
  return true;
}

/** The audit facts of an occurrence given (or not) to a subscription: the event type as its server's tool, the subscriber. */
function occurrenceEvents(sub: EventSubscription, server: ServerEvents, eventId: string): CallEventBase {
  const { keyId, subject, username } = sub.principal;
  const userId = sub.credential?.userId;
  return {
    workspaceId: sub.workspaceId,
    serverId: server.serverId,
    serverName: server.serverName,
    tool: sub.name,
    actor: auditActor({ workspaceId: sub.workspaceId, keyId, subject, username, userId }),
    source: { requestId: eventId, traceId: currentTraceIds()?.traceId ?? null, clientAddress: null, userAgent: null },
  };
}

/** Writes one audit event of an occurrence, built from its audit facts and its event id (a call's invocation id). */
type RecordEvent = (event: (base: CallEventBase, eventId: string) => AuditEventInput) => void;

/**
 * The access policies' decision on one occurrence for the subscriber (ADR 0081): the event type's name as the tool on
 * its server, the subscriber's principal as the caller, and conditions that see the subscription's arguments and the
 * occurrence (`args.event.data`). Undefined: it may be given; else why not. No published policies: refused. A false
 * condition's refusal and log-only policies' would-be refusals are audit events (`record`), as a call's are.
 */
function accessRefusal(
  sub: EventSubscription,
  { access, server, data }: { access: WorkspaceAccess | undefined; server: ServerEvents; data: unknown },
  record: RecordEvent,
): string | undefined {
  if (!access) return 'the workspace access policies could not be read';
  const { keyId, subject, username } = sub.principal;
  const caller = {
    identity: { ...(keyId ? { keyId } : {}), ...(subject ? { subject } : {}), ...(username ? { username } : {}) },
    condition: {
      ...(keyId ? { key_id: keyId } : {}),
      ...(subject ? { subject } : {}),
      ...(username ? { user: username } : {}),
    },
  };
  const tool = { def: { name: sub.name, inputSchema: { type: 'object' as const } } };
  const args = { ...sub.arguments, event: { data } };
  const step = { serverId: server.serverId, serverName: server.serverName, tool };
  const refused = stepRefusal(access, caller, step, args);
  const on = stepConditions(access, caller, step);
  if (refused !== undefined) {
    const policy = on && refusingPolicy(on.conditions, on.server, tool, args);
    if (policy) record((base) => conditionRefusalEvent(base, policy));
    return refused;
  }
  for (const r of on ? shadowRefusals(on.conditions, on.server, tool, args) : [])
    record((base, eventId) => accessWouldRefuseEvent(base, r, eventId));
  return undefined;
}

/**
 * A narrowed token's conditions, as its calls meet them: the event type's name as the tool, the
 * subscription's arguments and the occurrence (`args.event.data`). Undefined: they hold (or the token has none).
 */
function delegationRefusal(sub: EventSubscription, server: ServerEvents, data: unknown): string | undefined {
  const conditions = sub.credential?.conditions;
  if (!conditions?.length) return undefined;
  const { keyId, subject, username } = sub.principal;
  return falseDelegationCondition(conditions, {
    caller: {
      ...(keyId ? { key_id: keyId } : {}),
      ...(subject ? { subject } : {}),
      ...(username ? { user: username } : {}),
    },
    tool: { name: sub.name, server_id: server.serverId, server_name: server.serverName },
    args: { ...sub.arguments, event: { data } },
  });
}

/**
 * The subscriber's quotas that take the event type (by its name, as a tool's; calls in flight do not apply to events):
 * one occurrence given is one call. Undefined: charged, or none applies; else why it is not given (no room, or the
 * quota could not be counted: fail closed).
 */
async function quotaRefusal(
  deps: FanOutDeps,
  sub: EventSubscription,
  target: { server: ServerEvents; access: WorkspaceAccess | undefined },
  record: RecordEvent,
): Promise<string | undefined> {
  const quotas = target.access?.quotas ?? [];
  const { keyId, subject, username } = sub.principal;
  const caller = { keyId, subject, person: username };
  const rules = quotas.filter(
    (q) =>
      q.counts !== 'in_flight' && quotaTakesCaller(q, caller, target.server.serverId) && quotaTakesTool(q, sub.name),
  );
  if (rules.length === 0) return undefined;
  let outcome: ChargeOutcome;
  try {
    outcome = await deps.quotaMeter.charge({ workspaceId: sub.workspaceId, rules, caller }, rules, 1);
  } catch {
    return 'the quotas could not be counted';
  }
  for (const w of outcome.shadow)
    record((base, eventId) => quotaEvent(base, w, { kind: 'would_refuse', invocationId: eventId }));
  const { refused } = outcome;
  if (!refused) return undefined;
  record((base) => quotaEvent(base, refused, { kind: 'refused' }));
  return `quota "${refused.rule.name}" has no room`;
}

/**
 * A narrowed token's limits on calls follow its subscriptions (docs/events.md): each occurrence given is one call,
 * charged to every limit of its chain in the counters its calls and workflow steps spend (`DelegationBudget`). None
 * left: the subscription ends (removed with its stream, as when its credential fails) and the token's next poll,
 * stream or subscribe is refused saying so. Counters that cannot be read give nothing this time and end nothing.
 */
async function budgetRefusal(deps: FanOutDeps, sub: EventSubscription): Promise<string | undefined> {
  const limits = sub.credential?.limits;
  if (!limits?.length) return undefined;
  if (!deps.budget) return 'its calls cannot be counted';
  const exp = Math.ceil((sub.credential?.expiresAt ?? sub.expiresAt) / 1000);
  let room: boolean;
  try {
    room = await deps.budget.charge(limits, exp);
  } catch {
    return 'its calls could not be counted';
  }
  if (room) return undefined;
  await removeSubscription(deps.redis, sub.instanceId, sub.id);
  deps.log.info({ subscriptionId: sub.id }, 'event subscription ended: its narrowed token has no calls left');
  return 'no calls left';
}

/**
 * The subscriber's credential judged as it is now: a key deleted or limited to other servers, a narrowed
 * token revoked, a token expired, a person gone ends the subscription (removed with its stream: nothing more is given,
 * an open stream is told by its edge). Undefined: it stands; a check that cannot be made gives nothing this time and
 * ends nothing (fails closed).
 */
async function credentialRefusal(deps: FanOutDeps, sub: EventSubscription): Promise<string | undefined> {
  let refused: string | undefined;
  try {
    refused = deps.standings
      ? await deps.standings.refusal(deps.redis, deps.prefix, sub, deps.now())
      : await subscriberRefusal(deps.redis, deps.prefix, sub, deps.now());
  } catch {
    return "the subscriber's credential could not be checked";
  }
  if (refused === undefined) return undefined;
  await removeSubscription(deps.redis, sub.instanceId, sub.id);
  deps.log.info(
    { subscriptionId: sub.id, reason: refused },
    'event subscription ended: its credential no longer holds',
  );
  return refused;
}

/** One occurrence on its way to one subscription, as its rules see it. */
export interface Delivery {
  readonly deps: FanOutDeps;
  readonly sub: EventSubscription;
  readonly target: { server: ServerEvents; type: CatalogEventType; access: WorkspaceAccess | undefined };
  /** The payload as the subscriber will receive it (the guardrails on results may redact it). */
  data: unknown;
  /** Writes an audit event of this occurrence (built only when one is written). */
  readonly record: RecordEvent;
  /** Gives back a narrowed token's charge when a later rule refuses the occurrence. */
  refund?: () => Promise<void>;
}

/** A rule's check of one delivery: why the occurrence is not given, or undefined (it goes on). */
export interface DeliveryCheck {
  readonly name: string;
  run(d: Delivery): string | undefined | Promise<string | undefined>;
}

/**
 * The fan-out's one adapter of portable rules (ADR 0101, ADR 0103): a rule of the list that declares `eventDelivery`
 * judges each occurrence as its calls' adapters judge a call. Its settings are the subscription's server's
 * (`ruleSettings` in its live catalog); the tool is the event type (its name and arguments' schema); the arguments are
 * the subscription's with the occurrence's payload as the guardrails left it (`event.data`), as conditions see them;
 * the caller's facet is derived from the subscriber's principal. A refusal withholds the occurrence and is a
 * `tool.call_refused` audit event; a log-only would-be refusal a `rule.would_refuse` one (the occurrence is given).
 */
export function portableDeliveryCheck(rule: PortableRule): DeliveryCheck {
  return {
    name: rule.name,
    run(d) {
      const settings = settingsFor(rule, d.target.server.ruleSettings);
      if (settings === undefined) return undefined;
      const { event } = d.target.type;
      const tool = { name: d.sub.name, inputSchema: event.inputSchema };
      if (settings !== 'invalid' && !rule.appliesTo(tool, settings.settings)) return undefined;
      const facets = new CallerFacets(ruleCallerOf(d.sub.principal));
      const args = { ...d.sub.arguments, event: { data: d.data } };
      const decision = judgePortable(rule, settings, { args, tool, facets });
      if (decision === undefined) return undefined;
      const { refused, code, kind } = decisionOutcome(decision);
      d.record((base, invocationId) => ruleDecisionEvent(base, { rule: rule.name, code, kind, invocationId }));
      // The message may quote the payload: the reason kept in the delivery's record names the rule and its code only.
      return refused ? `rule ${rule.name}: ${code}` : undefined;
    },
  };
}

/**
 * The rules an occurrence meets for a subscription whose credential stands and whose filters it passes, in the order of
 * the one list of rules (`rules` in @toolplane/access, ADR 0097): a narrowed token's conditions, the access policies
 * and their conditions, the server's guardrails on results, then the quotas (charged only for what is given).
 */
const deliveryChecks = rulePlan<DeliveryCheck>(
  'eventDelivery',
  {
    delegation: {
      name: 'delegation',
      async run(d) {
        const narrowed = delegationRefusal(d.sub, d.target.server, d.data);
        if (narrowed !== undefined) {
          d.record((b) => delegationRefusalEvent(b, 'condition'));
          return `narrowed token: ${narrowed}`;
        }
        // Each occurrence given is one of the token's calls, given back if a later rule refuses it.
        const spent = await budgetRefusal(d.deps, d.sub);
        if (spent !== undefined) return `narrowed token: ${spent}`;
        const limits = d.sub.credential?.limits;
        if (limits?.length) d.refund = async () => void (await d.deps.budget?.refund(limits));
        return undefined;
      },
    },
    access: {
      name: 'access',
      run({ sub, target, data, record }) {
        const refused = accessRefusal(sub, { access: target.access, server: target.server, data }, record);
        return refused === undefined ? undefined : `access: ${refused}`;
      },
    },
    'result-guardrails': {
      name: 'result-guardrails',
      run(d) {
        const guardrails = guardrailsFor(d.target.server.guardrails, d.sub.name);
        const guarded = applyGuardrails(d.data, guardrails, { maxScanBytes: d.deps.maxScanBytes });
        if (guarded.withheld) return `withheld by guardrail ${guarded.withheld.guardrail ?? ''}`.trim();
        d.data = guarded.value;
        return undefined;
      },
    },
    quota: { name: 'quota', run: ({ deps, sub, target, record }) => quotaRefusal(deps, sub, target, record) },
  },
  portableDeliveryCheck,
);

/** The names of the rules a delivery meets, in order (compared with the list by a unit test). */
export const deliveryRuleNames: readonly string[] = deliveryChecks.map((check) => check.name);

/**
 * One occurrence for one subscription: filters, credential, then its rules (`deliveryChecks`), session label, stream.
 * `givenBefore`: the subscriptions an earlier run of this fan-out gave it to.
 */
async function giveTo(
  deps: FanOutDeps,
  sub: EventSubscription,
  target: { server: ServerEvents; type: CatalogEventType; access: WorkspaceAccess | undefined },
  occurrence: EventOccurrence & { givenBefore: Readonly<Record<string, string>> },
): Promise<Given> {
  const { server, type } = target;
  if (!passesFilters(type, sub.arguments, occurrence.data)) return { id: sub.id, given: false, why: 'filters' };
  const given = givenKey(sub.instanceId, occurrence.eventId);
  // Given by an earlier run of this fan-out: neither charged nor appended again.
  if (sub.id in occurrence.givenBefore) return { id: sub.id, given: true };
  const standing = await credentialRefusal(deps, sub);
  if (standing !== undefined) return { id: sub.id, given: false, why: `credential: ${standing}` };
  // The occurrence's audit facts, read only if an event is written (most occurrences write none).
  let base: CallEventBase | undefined;
  const record: RecordEvent = (event) =>
    deps.audit?.add(event((base ??= occurrenceEvents(sub, server, occurrence.eventId)), occurrence.eventId));
  const d: Delivery = { deps, sub, target, data: occurrence.data, record };
  for (const check of deliveryChecks) {
    const why = await check.run(d);
    if (why === undefined) continue;
    await d.refund?.();
    return { id: sub.id, given: false, why };
  }
  const { eventId, name, timestamp } = occurrence;
  const shown: EventOccurrence = { eventId, name, timestamp, data: d.data };
  // Provider data is written by outsiders: the subscriber's session holds `untrusted` from now on (ADR 0078).
  if (sub.session)
    await deps.sessions.add(sub.workspaceId, sub.session, {
      tool: sub.name,
      serverId: server.serverId,
      invocationId: occurrence.eventId,
      at: deps.now(),
      labels: [{ label: 'untrusted', source: 'declared' }],
      countCall: false,
    });
  const appended = await deps.redis.eval(
    GIVE_ONCE,
    2,
    given,
    subscriptionStreamKey(sub.instanceId, sub.id),
    ...[sub.id, GIVEN_TTL_MS, deps.streamMaxLen, JSON.stringify(shown)],
  );
  if (appended === 1 && sub.delivery === 'webhook') deps.webhookEntry(sub.instanceId, sub.id);
  return { id: sub.id, given: true };
}

/**
 * An occurrence of the instance's delivery given to every live subscription of that instance whose server exposes an
 * event type matching the provider's type (`match.types`) under the subscription's name.
 */
export async function fanOut(
  deps: FanOutDeps,
  where: {
    instanceId: string;
    workspaceId: string;
    servers: readonly ServerEvents[];
    /** Only these subscriptions (an external server's events, polled per event type and arguments). */
    only?: (sub: EventSubscription) => boolean;
  },
  delivery: { eventId: string; types: readonly string[]; data: unknown; timestamp: string },
): Promise<Given[]> {
  // The subscriptions and what an earlier run gave the occurrence to, in one round trip; the access policies read
  // beside them, awaited only once a subscription takes the occurrence.
  const [raw, givenBefore] = await Promise.all([
    deps.redis.hgetall(subscriptionsKey(where.instanceId)),
    deps.redis.hgetall(givenKey(where.instanceId, delivery.eventId)),
  ]);
  const now = deps.now();
  const out: Given[] = [];
  let access: WorkspaceAccess | undefined | null = null;
  for (const value of Object.values(raw)) {
    const parsed = EventSubscription.safeParse(JSON.parse(value));
    if (!parsed.success || parsed.data.expiresAt <= now || parsed.data.workspaceId !== where.workspaceId) continue;
    const sub = parsed.data;
    if (where.only && !where.only(sub)) continue;
    const server = where.servers.find((s) => s.serverId === sub.serverId);
    const type = server?.types.find(
      (t) => t.event.name === sub.name && delivery.types.some((d) => t.match.types.includes(d)),
    );
    if (!server || !type) continue;
    if (access === null) access = await deps.workspaceAccess(where.workspaceId);
    const occurrence = {
      eventId: delivery.eventId,
      name: sub.name,
      timestamp: delivery.timestamp,
      data: delivery.data,
      givenBefore,
    };
    out.push(await giveTo(deps, sub, { server, type, access }, occurrence));
  }
  return out;
}
