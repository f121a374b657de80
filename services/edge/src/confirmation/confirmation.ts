import { createHash } from 'node:crypto';
import {
  runCodeTool,
  toolResultValue,
  type Principal,
  type ToolOutcome,
  type ToolResultPayload,
} from '@toolplane/contracts';
import { inputRequired } from '@modelcontextprotocol/server';
import { looksSecret } from './secret-shapes.ts';
import { callerBinding, isConfirmState, relayedState, type ConfirmStates } from './confirm-state.ts';
import type { LoadedCatalog, LoadedTool } from '../state/catalogs.ts';

/**
 * A person's confirmation of a call of a tool marked `confirm` (ADR 0038, docs/governance.md "A person's
 * confirmation"): what the person is shown (the arguments, secrets masked), how an answer is bound to the arguments
 * it was given for across the rounds of a 2026-07-28 call, and the audit events of decisions. Pure pieces: the
 * asking itself (per protocol era) is in confirmation-askers.ts, the decision in calls/tool-calls.ts, the audit events of
 * every decision on a call in calls/call-audit.ts.
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
  if (isRunCode(loaded, name)) return [...loaded.tools.values()].some((t) => t.rules.confirm === true);
  if (loaded.catalog.mode !== 'SMART')
    return typeof name === 'string' && loaded.tools.get(name)?.rules.confirm === true;
  const target = name === 'execute_tool' ? (args as { name?: unknown } | null | undefined)?.name : undefined;
  return typeof target === 'string' && loaded.tools.get(target)?.rules.confirm === true;
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
