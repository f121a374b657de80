import { createHash, randomUUID } from 'node:crypto';
import {
  runCodeTool,
  toolResultValue,
  type AuditActor,
  type AuditEventInput,
  type AuditSource,
  type GuardrailFinding,
  type Principal,
  type ToolOutcome,
  type ToolResultPayload,
} from '@toolplane/contracts';
import { currentTraceIds } from '@toolplane/telemetry';
import { inputRequired } from '@modelcontextprotocol/server';
import type { ShadowRefusal } from './access-conditions.ts';
import type { SourceRequest } from './call-context.ts';
import { looksSecret } from './secret-shapes.ts';
import { callerBinding, isConfirmState, relayedState, type ConfirmStates } from './confirm-state.ts';
import type { LoadedCatalog, LoadedTool } from './catalogs.ts';

/**
 * A person's confirmation of a call of a tool marked `confirm` (ADR 0038, docs/governance.md "A person's
 * confirmation"): what the person is shown (the arguments, secrets masked), how an answer is bound to the arguments
 * it was given for across the rounds of a 2026-07-28 call, and the audit events of decisions. Pure pieces: the
 * asking itself (per protocol era) is in confirmation-askers.ts, the decision in tool-calls.ts.
 */

/** Whether a `tools/call` is code mode's `run_code` (a SMART server's, or a NORMAL server's with code mode on). */
export function isRunCode(loaded: LoadedCatalog, name: unknown): boolean {
  return (
    name === runCodeTool.name &&
    (loaded.catalog.mode === 'SMART' || (loaded.catalog.codeMode === true && !loaded.tools.has(name)))
  );
}

/**
 * Whether a `tools/call` may run a tool marked `confirm`: such a tool (of a SMART server: the target of
 * `execute_tool`), or `run_code` on a server with one (its program may call it).
 */
export function callNeedsConfirmation(loaded: LoadedCatalog, name: unknown, args: unknown): boolean {
  if (isRunCode(loaded, name)) return [...loaded.tools.values()].some((t) => t.confirm === true);
  if (loaded.catalog.mode !== 'SMART') return typeof name === 'string' && loaded.tools.get(name)?.confirm === true;
  const target = name === 'execute_tool' ? (args as { name?: unknown } | null | undefined)?.name : undefined;
  return typeof target === 'string' && loaded.tools.get(target)?.confirm === true;
}

/** How long a call waits for a person's answer by default: then it is cancelled (a 2026-07-28 state expires). */
export const DEFAULT_CONFIRM_TIMEOUT_MS = 10 * 60_000;

/** What a masked argument value is replaced with, wherever it is shown or recorded. */
export const MASKED = '[masked]';

/** The key of the confirmation among a 2026-07-28 call's `inputRequests` (an external server's own keys differ). */
export const CONFIRM_INPUT_KEY = 'toolplane_confirmation';

/** The prefix of the ids of the `elicitation/create` requests the edge sends (2025-11-25): their answers are ours. */
export const ELICITATION_ID_PREFIX = 'tp-confirm-';

/** What a person may answer (MCP elicitation actions). */
export type ConfirmAction = 'accept' | 'decline' | 'cancel';

/** The form a person is asked to submit: no field, accepting it is the confirmation. */
export const confirmationSchema = { type: 'object' as const, properties: {} };

/** What the person is asked, and what an answer is bound to. */
export interface ConfirmationPrompt {
  readonly message: string;
  /** The arguments as shown and recorded: secret values masked. */
  readonly masked: Record<string, unknown>;
  /** Binds a 2026-07-28 answer to this server, tool and these exact arguments (confirm-state.ts). */
  readonly digest: string;
}

/**
 * What asking gave: the person's answer; on 2026-07-28, the `input_required` result to return (`ask`), or a later
 * round of a call the person already accepted (`continued`); `unavailable` when the client cannot ask its user.
 */
export type Confirmation =
  | { readonly kind: 'answered'; readonly action: ConfirmAction }
  | { readonly kind: 'invalid'; readonly reason: InvalidState }
  | { readonly kind: 'ask'; readonly result: ToolResultPayload }
  | { readonly kind: 'continued' }
  | { readonly kind: 'unavailable' };

/**
 * Why a 2026-07-28 call's confirmation state is refused: not ours or not intact, past its time, used before, or made
 * for another caller.
 */
export type InvalidState = 'malformed' | 'forged' | 'expired' | 'replayed' | 'caller';

/** Who a confirmation state is for (confirm-state.ts): the principal's credential and the person it acts for. */
export function principalBinding(p: Readonly<Principal>): string {
  return callerBinding(p.keyId ?? `oauth:${p.subject}`, p.userId);
}

/** Asks the caller's person through the client, as the call's protocol era allows (confirmation-askers.ts). */
export type ConfirmationAsker = (prompt: ConfirmationPrompt) => Promise<Confirmation>;

type Schema = Readonly<Record<string, unknown>>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Words naming a secret or a credential, in an argument's name (`api_key`, `clientSecret`, `X-Auth-Token`). */
const secretWords = new Set([
  'password',
  'passwd',
  'passphrase',
  'secret',
  'secrets',
  'token',
  'tokens',
  'credential',
  'credentials',
  'authorization',
  'auth',
  'cookie',
  'apikey',
  'privatekey',
  'pin',
  'otp',
  'cvv',
  'cvc',
  'ssn',
]);
/** `key` is a credential after these words (`api key`, `private key`), not alone (a sort key, an idempotency key). */
const keyQualifiers = new Set(['api', 'private', 'access', 'secret', 'signing', 'client', 'encryption']);

/** Whether an argument's name is credential-like: one of its words names a secret. */
export function credentialLikeName(name: string): boolean {
  const words = name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
  return words.some((w, i) => secretWords.has(w) || (w === 'key' && i > 0 && keyQualifiers.has(words[i - 1]!)));
}

/** Whether a schema marks its value secret: `writeOnly`, `format: password`, or `x-secret` / `x-sensitive`. */
function marksSecret(schema: Schema): boolean {
  return (
    schema.writeOnly === true ||
    schema.format === 'password' ||
    schema['x-secret'] === true ||
    schema['x-sensitive'] === true
  );
}

/** A local `$ref` (`#/$defs/X`) resolved against the tool's input schema; undefined otherwise. */
function resolveRef(root: Schema, ref: string): Schema | undefined {
  if (!ref.startsWith('#')) return undefined;
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const part = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    node = isObject(node) ? node[part] : undefined;
  }
  return isObject(node) ? node : undefined;
}

/** The schemas a value must meet: these, their `$ref` targets and their `allOf` / `anyOf` / `oneOf` branches. */
function expand(root: Schema, schemas: readonly Schema[]): Schema[] {
  const out: Schema[] = [];
  const seen = new Set<Schema>();
  const visit = (s: Schema | undefined) => {
    if (!s || seen.has(s)) return;
    seen.add(s);
    out.push(s);
    if (typeof s.$ref === 'string') visit(resolveRef(root, s.$ref));
    for (const k of ['allOf', 'anyOf', 'oneOf'] as const) {
      const branches = s[k];
      if (Array.isArray(branches)) for (const b of branches) if (isObject(b)) visit(b);
    }
  };
  for (const s of schemas) visit(s);
  return out;
}

/** The schemas of property `name` of an object under `schemas`. */
function propertySchemas(schemas: readonly Schema[], name: string): Schema[] {
  const out: Schema[] = [];
  for (const s of schemas) {
    const declared = isObject(s.properties) ? s.properties[name] : undefined;
    if (isObject(declared)) out.push(declared);
    else if (isObject(s.additionalProperties)) out.push(s.additionalProperties);
  }
  return out;
}

/** The schemas of item `index` of an array under `schemas`. */
function itemSchemas(schemas: readonly Schema[], index: number): Schema[] {
  const out: Schema[] = [];
  for (const s of schemas) {
    const prefix = Array.isArray(s.prefixItems) ? (s.prefixItems[index] as unknown) : undefined;
    if (isObject(prefix)) out.push(prefix);
    else if (isObject(s.items)) out.push(s.items);
  }
  return out;
}

function maskValue(root: Schema, value: unknown, schemas: readonly Schema[]): unknown {
  const all = expand(root, schemas);
  if (all.some(marksSecret)) return MASKED;
  if (typeof value === 'string') return looksSecret(value) ? MASKED : value;
  if (Array.isArray(value)) return value.map((v, i) => maskValue(root, v, itemSchemas(all, i)));
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = credentialLikeName(k) ? MASKED : maskValue(root, v, propertySchemas(all, k));
  return out;
}

/**
 * The arguments with every secret value masked: where the tool's input schema marks the value secret (`writeOnly`,
 * `format: password`, `x-secret`, `x-sensitive`; through `$ref`, `allOf`, `anyOf`, `oneOf`, nested objects and
 * arrays), where an argument's name is credential-like (`credentialLikeName`), whatever the schema says, or where a
 * string value looks like a credential whatever its name (`looksSecret`: a JWT, `Bearer …`, a provider's key, a long
 * random token, `password=…` in a text).
 */
export function maskArguments(args: Readonly<Record<string, unknown>>, inputSchema: Schema): Record<string, unknown> {
  return maskValue(inputSchema, args, [inputSchema]) as Record<string, unknown>;
}

/** Object keys sorted at every level: the same arguments give the same text, whatever their order. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) =>
    isObject(v)
      ? Object.fromEntries(
          Object.keys(v)
            .sort()
            .map((k) => [k, v[k]]),
        )
      : v,
  );
}

/** The SHA-256 (base64url) of the server, the tool and the exact arguments: what an answer is bound to. */
export function argumentsDigest(serverId: string, tool: string, args: Readonly<Record<string, unknown>>): string {
  return createHash('sha256')
    .update(stableJson([serverId, tool, args]))
    .digest('base64url');
}

/** The longest arguments text a person is shown (longer is cut, and says so). */
const MAX_SHOWN_ARGUMENTS = 2000;

/** The tool's description, first line only, at most 200 characters. */
function purpose(tool: LoadedTool): string {
  const line = (tool.def.description ?? '').split('\n')[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** What the person is asked: which tool of which server, what it does, and the arguments (secrets masked). */
export function confirmationPrompt(
  loaded: LoadedCatalog,
  tool: LoadedTool,
  args: Readonly<Record<string, unknown>>,
): ConfirmationPrompt {
  const masked = maskArguments(args, tool.def.inputSchema);
  const shown = JSON.stringify(masked, null, 2);
  const title = tool.def.title ?? tool.def.annotations?.title;
  const what = purpose(tool);
  const message = [
    `Allow this call? "${tool.def.name}"${title ? ` (${title})` : ''} on MCP server "${loaded.catalog.name}".`,
    ...(what ? [`What it does: ${what}`] : []),
    `Arguments (secret values masked): ${shown.length > MAX_SHOWN_ARGUMENTS ? `${shown.slice(0, MAX_SHOWN_ARGUMENTS)}… (cut)` : shown}`,
    'Nothing is sent unless you accept.',
  ].join('\n');
  return { message, masked, digest: argumentsDigest(loaded.catalog.serverId, tool.def.name, args) };
}

/** 2026-07-28: the `input_required` result asking the person, whose retry carries the answer and this state. */
export function askResult(prompt: ConfirmationPrompt, requestState: string): ToolResultPayload {
  const { inputRequests } = inputRequired({
    inputRequests: {
      [CONFIRM_INPUT_KEY]: inputRequired.elicit({ message: prompt.message, requestedSchema: confirmationSchema }),
    },
  });
  return { content: [], resultType: 'input_required', ...(inputRequests ? { inputRequests } : {}), requestState };
}

/**
 * The `requestState` an external MCP server gets: its own, relayed inside an accepted call's state (confirm-state.ts),
 * or the caller's as it came when it is not ours; undefined for ours without one. Read without checking the state's
 * MAC: a call of a tool marked `confirm` checks it before anything is enqueued, and for another tool the value is the
 * client's own to send.
 */
export function upstreamRequestState(raw: unknown): unknown {
  return isConfirmState(raw) ? relayedState(raw) : raw;
}

/** `inputResponses` as an external MCP server gets them: without the confirmation's. */
export function upstreamInputResponses(responses: Record<string, unknown> | undefined) {
  if (!responses || !(CONFIRM_INPUT_KEY in responses)) return responses;
  const { [CONFIRM_INPUT_KEY]: _ours, ...rest } = responses;
  return Object.keys(rest).length > 0 ? rest : undefined;
}

/** A call of a tool marked `confirm` that went through: what `confirmedResult` reads of it. */
interface ConfirmedCall {
  readonly loaded: LoadedCatalog;
  readonly principal: Readonly<Principal>;
  readonly name: string;
  readonly arguments: Readonly<Record<string, unknown>>;
  /** Set on 2026-07-28 calls of external MCP tools only: the only calls whose result may ask for more input. */
  readonly multiRound?: unknown;
}

/** How an accepted call's later rounds are bound (ADR 0038): the deployment's states, for how long a state holds. */
export interface ConfirmSealing {
  readonly states: ConfirmStates;
  readonly ttlMs: number;
}

/**
 * The result of an accepted call: as it came, unless an external MCP tool asked for input of its own (2026-07-28);
 * then its `requestState` travels inside an `ok` state of ours (bound to the arguments and the caller, single use),
 * so that the retry carrying that input is known accepted already.
 */
export async function confirmedResult(
  call: ConfirmedCall,
  outcome: ToolOutcome,
  sealing: ConfirmSealing | undefined,
): Promise<ToolOutcome> {
  if (call.multiRound === undefined || !sealing) return outcome;
  const value = toolResultValue(outcome);
  if (value.resultType !== 'input_required') return outcome;
  const requestState = await sealing.states.seal({
    stage: 'ok',
    digest: argumentsDigest(call.loaded.catalog.serverId, call.name, call.arguments),
    caller: principalBinding(call.principal),
    expiresAt: Date.now() + sealing.ttlMs,
    upstream: typeof value.requestState === 'string' ? value.requestState : undefined,
  });
  return { ...value, requestState };
}

/** A call as audit events name it. */
export interface AuditedCall {
  readonly principal: Readonly<Principal>;
  readonly loaded: LoadedCatalog;
  readonly requestId: string | number;
  readonly source?: SourceRequest | undefined;
  /** The API key's name, when an API key calls. */
  readonly keyName?: string | undefined;
  /** A call a `run_code` program made: the program's invocation, named in the event's details. */
  readonly parentInvocationId?: string | undefined;
}

/** Who acts: the person the call runs for, else its API key (and its name), else its OAuth subject; nobody on a public server. */
export function auditActor(p: Readonly<Principal>, keyName?: string): AuditActor {
  if (p.userId !== undefined) return { type: 'person', id: p.userId, name: p.username ?? null };
  if (p.keyId !== undefined) return { type: 'api_key', id: p.keyId, name: keyName ?? null };
  if (p.subject === undefined || p.subject === 'anonymous') return { type: 'anonymous', id: null, name: null };
  return { type: 'oauth_subject', id: p.subject, name: null };
}

const cut = (v: string | undefined, max: number) => (v === undefined ? null : v.slice(0, max));

/**
 * A value the caller chose (a JSON-RPC id) as the trail stores it: printable ASCII kept, anything else (control and
 * terminal escape characters, bidi overrides, other non-ASCII) written as `\u{…}`, at most `max` characters.
 */
export function printable(v: string, max: number): string {
  let out = '';
  for (const ch of v) {
    const code = ch.codePointAt(0)!;
    out += code >= 0x20 && code < 0x7f && ch !== '\\' ? ch : `\\u{${code.toString(16)}}`;
    if (out.length >= max) return out.slice(0, max);
  }
  return out;
}

function auditSource(call: AuditedCall): AuditSource {
  return {
    requestId: printable(String(call.requestId), 256),
    traceId: currentTraceIds()?.traceId ?? null,
    clientAddress: cut(call.source?.ip, 256),
    userAgent: cut(call.source?.header('user-agent'), 1024),
  };
}

function toolEvent(call: AuditedCall, tool: string, fields: Pick<AuditEventInput, 'action' | 'outcome' | 'details'>) {
  const { catalog } = call.loaded;
  const event: AuditEventInput = {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: catalog.workspaceId,
    actor: auditActor(call.principal, call.keyName),
    action: fields.action,
    resource: { type: 'tool', id: `${catalog.serverId}/${tool}` },
    outcome: fields.outcome,
    status: null,
    source: auditSource(call),
    changes: null,
    // A `run_code` program's call names the program (its record's id): the trail links it as the records do.
    details: call.parentInvocationId
      ? { ...fields.details, parentInvocationId: call.parentInvocationId }
      : fields.details,
  };
  return event;
}

/** One inner call of a `run_code` program, as its audit event lists it. */
export interface ProgramCall {
  readonly tool: string;
  /** The call's invocation id (its execution record's); absent for a call answered from an earlier round's state. */
  readonly invocationId?: string;
  readonly outcome: 'ok' | 'error' | 'replayed';
}

/**
 * The audit event of a `run_code` program that ended: its invocation (its record's id) and every inner call it made,
 * in order, each with its own record's id: the trail names each inner call, linked to the program, as the records do.
 */
export function programEvent(
  call: AuditedCall,
  tool: string,
  program: { invocationId: string; calls: readonly ProgramCall[]; failed: boolean },
): AuditEventInput {
  return toolEvent(call, tool, {
    action: 'tool.program_run',
    outcome: program.failed ? 'failed' : 'success',
    // Not the program's error: it may quote what tools returned, and the trail is kept long and sent to SIEMs (the
    // program's execution record has it).
    details: { invocationId: program.invocationId, calls: program.calls },
  });
}

/** What became of a confirmation: the person's answer, or `refused` when the client could not ask. */
export type ConfirmationOutcome = 'accepted' | 'declined' | 'cancelled' | 'refused';

/** The audit event of a confirmation's outcome: who decided, on which tool, with which (masked) arguments. */
export function confirmationEvent(
  call: AuditedCall,
  tool: string,
  decision: { outcome: ConfirmationOutcome; invalidState?: InvalidState | undefined },
  masked: Record<string, unknown>,
): AuditEventInput {
  const { outcome, invalidState } = decision;
  const reason = invalidState ? `state_${invalidState}` : 'no_elicitation';
  return toolEvent(call, tool, {
    action: 'tool.confirmation',
    outcome,
    details: {
      server: call.loaded.catalog.name,
      tool,
      arguments: masked,
      ...(outcome === 'refused' ? { reason } : {}),
    },
  });
}

/** The audit event of a call an access policy's condition refused (no argument values). */
export function conditionRefusalEvent(
  call: AuditedCall,
  tool: string,
  policy: { id: string; name: string | null } | null,
): AuditEventInput {
  return toolEvent(call, tool, {
    action: 'tool.call_refused',
    outcome: 'refused',
    details: { policy, server: call.loaded.catalog.name, tool },
  });
}

/**
 * The audit event of a log-only policy's would-be refusal (`access.would_refuse`, success: the call went on): the
 * policy, what it would have done, and the part of its condition that was not true (the policy's text, never a
 * value of the call). The resource is the policy; the call is named by its invocation id (its execution record).
 */
export function accessWouldRefuseEvent(
  call: AuditedCall,
  tool: string,
  r: ShadowRefusal,
  invocationId: string,
): AuditEventInput {
  const { policy } = r;
  const event = toolEvent(call, tool, {
    action: 'access.would_refuse',
    outcome: 'success',
    details: {
      policy: { id: policy.id, name: policy.name ?? null },
      would: r.would,
      condition: { expression: policy.condition ?? null, failed: r.failed, error: r.error },
      server: call.loaded.catalog.name,
      tool,
      invocationId,
    },
  });
  return { ...event, resource: { type: 'access_policy', id: policy.id } };
}

/**
 * What a guardrail found in the arguments of a call that went on (ADR 0050): `guardrail.<action>` (`redact`, `flag`,
 * `would_block`, …), outcome success, on the guardrail; the detectors and JSON paths, never a value. The call is named
 * by its invocation id.
 */
export function guardrailArgumentsEvent(
  call: AuditedCall,
  tool: string,
  { guardrail, findings }: { guardrail: { id: string; name: string }; findings: readonly GuardrailFinding[] },
  invocationId: string,
): AuditEventInput {
  const event = toolEvent(call, tool, {
    action: `guardrail.${findings[0]!.action}`,
    outcome: 'success',
    details: {
      guardrail: { id: guardrail.id, name: guardrail.name },
      on: 'arguments',
      findings: findings.map((f) => ({ detector: f.detector, path: f.path })),
      server: call.loaded.catalog.name,
      tool,
      invocationId,
    },
  });
  return { ...event, resource: { type: 'guardrail', id: guardrail.id } };
}

/**
 * The audit event of a quota (ADR 0048): a call it refused (`tool.quota_exceeded`, refused), or one a log-only quota
 * would have refused (`quota.would_refuse`, success: the call went on; the resource is the quota, the call is named
 * by its invocation id).
 */
export function quotaEvent(
  call: AuditedCall,
  tool: string,
  r: {
    rule: { id: string; name: string; limit: number; counts: string; enforce: boolean };
    used: number;
    retryAfterSeconds: number;
  },
  outcome: { kind: 'refused' } | { kind: 'would_refuse'; invocationId: string },
): AuditEventInput {
  const quota = {
    id: r.rule.id,
    name: r.rule.name,
    counts: r.rule.counts,
    limit: r.rule.limit,
    enforce: r.rule.enforce,
  };
  const details = {
    quota,
    used: r.used,
    retryAfterSeconds: r.retryAfterSeconds,
    server: call.loaded.catalog.name,
    tool,
  };
  if (outcome.kind === 'refused')
    return toolEvent(call, tool, { action: 'tool.quota_exceeded', outcome: 'refused', details });
  const event = toolEvent(call, tool, {
    action: 'quota.would_refuse',
    outcome: 'success',
    details: { ...details, invocationId: outcome.invocationId },
  });
  return { ...event, resource: { type: 'quota', id: r.rule.id } };
}

/**
 * The audit event of a quota's counter reaching 80 or 100 % of its limit, the first time in its window (ADR 0048):
 * `quota.alert` on the quota, by the call that brought it there. Of `per`, only its kind, and the person's name for a
 * quota per person (an API key's or subject's counter is named by its kind alone; the actor says who called).
 */
export function quotaAlertEvent(
  call: AuditedCall,
  tool: string,
  a: {
    rule: { id: string; name: string; limit: number; counts: string; enforce: boolean; per?: string | undefined };
    threshold: number;
    used: number;
    period: string;
  },
  person: string | undefined,
): AuditEventInput {
  const { rule } = a;
  const event = toolEvent(call, tool, {
    action: 'quota.alert',
    outcome: 'success',
    details: {
      quota: { id: rule.id, name: rule.name, counts: rule.counts, limit: rule.limit, enforce: rule.enforce },
      threshold: a.threshold,
      used: a.used,
      period: a.period,
      ...(rule.per ? { per: rule.per } : {}),
      ...(rule.per === 'person' && person !== undefined ? { person } : {}),
      server: call.loaded.catalog.name,
      tool,
    },
  });
  return { ...event, resource: { type: 'quota', id: rule.id } };
}

/**
 * An approval request's audit event (ADR 0049): `approval.requested` (the call's masked arguments and what the
 * control plane makes its row of, in `details`), `approval.executed` (its approval spent on this call) or
 * `approval.expired` (a retry found it past its time). The resource is the request.
 */
export function approvalEvent(
  call: AuditedCall,
  tool: string,
  approval: { id: string; action: 'requested' | 'executed' | 'expired' },
  details: Record<string, unknown> = {},
): AuditEventInput {
  const event = toolEvent(call, tool, {
    action: `approval.${approval.action}`,
    outcome: 'success',
    details: { server: { id: call.loaded.catalog.serverId, name: call.loaded.catalog.name }, tool, ...details },
  });
  return { ...event, resource: { type: 'approval', id: approval.id } };
}
