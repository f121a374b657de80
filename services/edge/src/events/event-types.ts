import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import {
  accessWouldRefuseEvent,
  CallerFacets,
  conditionRefusal,
  decisionOutcome,
  conditionRefusalEvent,
  delegationRefusalEvent,
  falseDelegationCondition,
  judgePortable,
  refusingPolicy,
  ruleCallerOf,
  ruleDecisionEvent,
  rulePlan,
  settingsFor,
  shadowRefusals,
  type PortableRule,
} from '@toolplane/access';
import { eventConditionSchema, type JsonSchema } from '@toolplane/conditions';
import type { AuditEventInput, CatalogEventType, EventSubscription } from '@toolplane/contracts';
import { callEvents } from '../calls/call-audit.ts';
import type { Caller } from '../identity/authenticate.ts';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { forbidden, invalidParams, notFound, unsupported } from './wire.ts';

/**
 * A server's event types as the edge serves them (ADR 0081): indexed once per catalog version, each with its
 * arguments' validator (Ajv 2020, as tools' arguments) and the object conditions are compiled against (an event type
 * is granted as a tool of its name is). `resolveEventType` is the one gate of poll, stream and subscribe: the event
 * type exists, the caller's policies grant it, its arguments are valid, and a condition on the grant holds for them.
 */

export interface LoadedEventType {
  readonly entry: CatalogEventType;
  readonly validate: ValidateFunction;
  /**
   * What conditions read: the name and the arguments' schema with the occurrence's `event`, as the control plane checks
   * them (a stable object: compiled conditions hang on it).
   */
  readonly def: { name: string; inputSchema: Record<string, unknown> };
}

const ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
const indexes = new WeakMap<LoadedCatalog['catalog'], Map<string, LoadedEventType>>();

function compile(schema: Record<string, unknown>): ValidateFunction {
  try {
    return ajv.compile(schema);
  } catch {
    return ajv.compile({ type: 'object' }); // a schema Ajv cannot compile takes any object, as for tools
  }
}

/** The catalog's event types by name (built once per catalog version). */
export function eventTypesOf(loaded: LoadedCatalog): Map<string, LoadedEventType> {
  const { catalog } = loaded;
  let index = indexes.get(catalog);
  if (index) return index;
  index = new Map();
  for (const entry of catalog.events ?? []) {
    const inputSchema = entry.event.inputSchema;
    index.set(entry.event.name, {
      entry,
      validate: compile(inputSchema),
      def: {
        name: entry.event.name,
        inputSchema: eventConditionSchema(inputSchema as JsonSchema) as Record<string, unknown>,
      },
    });
  }
  indexes.set(catalog, index);
  return index;
}

/** Whether the catalog has event types at all (then the extension is declared and served). */
export const hasEvents = (loaded: LoadedCatalog): boolean => (loaded.catalog.events?.length ?? 0) > 0;

/** Whether the caller's access policies grant the event type (no restriction: everything is granted). */
export const grantsEvent = (loaded: LoadedCatalog, name: string): boolean =>
  loaded.restriction?.granted?.(name) ?? loaded.restriction === undefined;

/** Where a subscribe's decisions are written (the edge's audit sink; absent: nowhere) and the request that asked. */
export interface EventAudit {
  readonly sink: { add(event: AuditEventInput): void } | undefined;
  readonly requestId: string | number;
}

/** The audit facts of a subscription to the event type `name`: the event type as the tool, as a call of it names it. */
const subscribeEvents = (caller: Caller, name: string, requestId: string | number) =>
  callEvents({ principal: caller.principal, loaded: caller.loaded, keyName: caller.keyName, requestId }, name);

/**
 * The event type a request names, once the caller may have it with these arguments in this delivery mode; else the
 * specification's error: `NotFound`, `Forbidden`, `InvalidParams` (with Ajv's errors), `Unsupported`.
 */
export function resolveEventType(
  caller: Caller,
  request: { name: string; arguments: Readonly<Record<string, unknown>>; delivery: 'poll' | 'push' | 'webhook' },
  audit?: EventAudit,
): LoadedEventType {
  const { loaded } = caller;
  const type = eventTypesOf(loaded).get(request.name);
  if (!type) throw notFound(`Unknown event type: ${request.name}`, 'event');
  if (!grantsEvent(loaded, request.name)) {
    const who = loaded.restriction?.who ?? 'this caller';
    throw forbidden(`Access denied: no access policy grants ${who} the event type "${request.name}".`);
  }
  if (!type.entry.event.delivery.includes(request.delivery))
    throw unsupported(`The event type "${request.name}" is not delivered by ${request.delivery}.`, {
      feature: 'deliveryMode',
      value: request.delivery,
    });
  for (const check of subscribeChecks) {
    const refused = check.run(caller, type, request, audit);
    if (refused) throw refused;
  }
  return type;
}

type SubscribeRequest = { name: string; arguments: Readonly<Record<string, unknown>> };
export interface SubscribeCheck {
  readonly name: string;
  /** Why the subscription is refused (a condition's refusal is also an audit event, as a call's refusal by it is). */
  run(caller: Caller, type: LoadedEventType, request: SubscribeRequest, audit?: EventAudit): Error | undefined;
}

/** The subscription's arguments against the event type's schema. */
const argumentsCheck: SubscribeCheck = {
  name: 'arguments',
  run(_caller, type, request) {
    if (type.validate(request.arguments)) return undefined;
    const errors = (type.validate.errors ?? []).map((e) => ({ path: e.instancePath, message: e.message ?? '' }));
    const first = errors[0];
    return invalidParams(
      `Invalid arguments for event type "${request.name}"${first ? `: ${first.path || '/'} ${first.message}` : ''}`,
      { errors },
    );
  },
};

/** A narrowed token's conditions on the subscription's arguments. */
const delegationCheck: SubscribeCheck = {
  name: 'delegation',
  run(caller, _type, request, audit) {
    const narrowed = delegationRefusal(caller, request);
    if (!narrowed) return undefined;
    audit?.sink?.add(delegationRefusalEvent(subscribeEvents(caller, request.name, audit.requestId), 'condition'));
    return forbidden(narrowed);
  },
};

/** A condition on the caller's grant of the event type, on the subscription's arguments. */
const accessCheck: SubscribeCheck = {
  name: 'access',
  run(caller, type, request, audit) {
    const { loaded } = caller;
    const conditions = caller.facts.access;
    const refusal = conditions ? conditionRefusal(conditions, loaded, type, request.arguments) : undefined;
    if (!refusal) return undefined;
    const policy = refusingPolicy(conditions!, loaded, type, request.arguments);
    audit?.sink?.add(conditionRefusalEvent(subscribeEvents(caller, request.name, audit.requestId), policy));
    return forbidden(refusal);
  },
};

/**
 * The subscribe path's one adapter of portable rules (ADR 0101, ADR 0103): a rule of the list that declares
 * `eventSubscribe` judges a subscription as the edge's `portableStage` judges a call. Its settings are the server's
 * (`ruleSettings` in its catalog); the tool is the event type (its name and arguments' schema); the arguments are the
 * subscription's; the caller's facet is derived from the principal. A refusal is `Forbidden` with the rule's message and
 * a `tool.call_refused` audit event; a log-only would-be refusal a `rule.would_refuse` one (the subscription is made).
 */
export function portableSubscribeCheck(rule: PortableRule): SubscribeCheck {
  return {
    name: rule.name,
    run(caller, type, request, audit) {
      const settings = settingsFor(rule, caller.loaded.catalog.ruleSettings);
      if (settings === undefined) return undefined;
      const tool = { name: request.name, inputSchema: type.entry.event.inputSchema };
      if (settings !== 'invalid' && !rule.appliesTo(tool, settings.settings)) return undefined;
      const facets = new CallerFacets(ruleCallerOf(caller.principal));
      const decision = judgePortable(rule, settings, { args: request.arguments, tool, facets });
      if (decision === undefined) return undefined;
      const { refused, code, message, kind } = decisionOutcome(decision);
      if (audit?.sink) {
        const base = subscribeEvents(caller, request.name, audit.requestId);
        audit.sink.add(ruleDecisionEvent(base, { rule: rule.name, code, kind, invocationId: String(audit.requestId) }));
      }
      return refused ? forbidden(message) : undefined;
    },
  };
}

/**
 * The rules a subscription meets once its event type is granted and delivered that way, in the order of the one list of
 * rules (`rules` in @toolplane/access): the arguments, a narrowed token's conditions, the grant's conditions, and the
 * portable rules that declare the path (`portableSubscribeCheck`).
 */
const subscribeChecks = rulePlan<SubscribeCheck>(
  'eventSubscribe',
  {
    arguments: argumentsCheck,
    delegation: delegationCheck,
    access: accessCheck,
  },
  portableSubscribeCheck,
);

/** The names of the rules a subscription meets, in order (compared with the list by a unit test). */
export const subscribeRuleNames: readonly string[] = subscribeChecks.map((check) => check.name);

/**
 * The would-be refusals of the caller's log-only policies on a subscription just made (its arguments), as
 * `access.would_refuse` audit events naming the subscription, as a call's name its invocation: written once per
 * subscription made, not on each poll that refreshes it.
 */
export function recordWouldRefuse(audit: EventAudit, caller: Caller, sub: EventSubscription): void {
  const { loaded } = caller;
  const conditions = caller.facts.access;
  const type = eventTypesOf(loaded).get(sub.name);
  if (!audit.sink || !conditions?.rules.logOnly || !type) return;
  const base = subscribeEvents(caller, sub.name, audit.requestId);
  for (const r of shadowRefusals(conditions, loaded, type, sub.arguments))
    audit.sink.add(accessWouldRefuseEvent(base, r, sub.id));
}

/**
 * A narrowed token's conditions on the subscription's arguments (ADR 0084): an event type is subscribed to
 * as its tool would be called; the fan-out judges them again on each occurrence (`args.event.data`).
 */
function delegationRefusal(
  caller: Caller,
  request: { name: string; arguments: Readonly<Record<string, unknown>> },
): string | undefined {
  const token = caller.facts.delegation?.token;
  if (!token || token.conditions.length === 0) return undefined;
  const { catalog } = caller.loaded;
  const failed = falseDelegationCondition(token.conditions, {
    caller: caller.stepCaller?.().condition ?? {},
    tool: { name: request.name, server_id: catalog.serverId, server_name: catalog.name },
    args: request.arguments,
  });
  return failed === undefined
    ? undefined
    : `The narrowed token ${token.jti} allows the event type "${request.name}" only when ${failed} (false for these arguments).`;
}
