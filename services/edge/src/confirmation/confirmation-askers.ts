import { randomUUID } from 'node:crypto';
import { CLIENT_CAPABILITIES_META_KEY, type Server, type ServerContext } from '@modelcontextprotocol/server';
import { callerSessionScope, type EdgeCallContext } from '../calls/call-context.ts';
import { isConfirmState } from './confirm-state.ts';
import {
  askResult,
  CONFIRM_INPUT_KEY,
  confirmationSchema,
  DEFAULT_CONFIRM_TIMEOUT_MS,
  ELICITATION_ID_PREFIX,
  type ConfirmAction,
  type ConfirmSealing,
  type InvalidState,
  type Confirmation,
  type ConfirmationAsker,
  type ConfirmationPrompt,
} from './confirmation.ts';
import { declaresFormElicitation, ElicitationReplies, type ElicitationReply } from '../protocol/protocol-state.ts';
import type { ToolCallDeps } from '../calls/call-types.ts';

/**
 * How a call of a tool marked `confirm` asks the caller's person, per protocol era (ADR 0038), as MCP form-mode
 * elicitation: on 2026-07-28 an `input_required` result the client fulfils and retries, on 2025-11-25 an
 * `elicitation/create` request on the call's own stream. Built by the MCP layer (protocol/mcp-handler.ts) for the SDK's
 * paths; the fast path never serves such a call.
 */

const unavailable: Confirmation = { kind: 'unavailable' };
const cancelled: Confirmation = { kind: 'answered', action: 'cancel' };

/** The action of an elicitation result (`{ action, content }`), if it is one. */
function actionOf(result: unknown): ConfirmAction | undefined {
  const action = (result as { action?: unknown } | null | undefined)?.action;
  return action === 'accept' || action === 'decline' || action === 'cancel' ? action : undefined;
}

/** A 2026-07-28 round's multi-round fields: a request's own (`ServerContext`), or those a program's inner call gets. */
export interface AskingRound {
  readonly mcpReq: { requestState(): unknown; readonly inputResponses?: Record<string, unknown> | undefined };
}

/** What a 2026-07-28 asker works with. */
export interface ModernAsking {
  /** The round's request state and input responses (a request's own, or those a program's inner call is given). */
  readonly ctx: AskingRound;
  readonly envelope: Record<string, unknown>;
  /** The deployment's confirmation states (absent: the call cannot be confirmed, nothing is sent). */
  readonly sealing: ConfirmSealing | undefined;
  /** Who calls (`principalBinding`): a state made for another caller is refused. */
  readonly caller: string;
}

const invalid = (reason: InvalidState): Confirmation => ({ kind: 'invalid', reason });

/**
 * 2026-07-28: the first round returns the `input_required` asking, with an `asked` state sealed by the edge (bound to
 * the server, tool, exact arguments and the caller; single use; expiring with the confirmation's timeout); the retry
 * carries the person's answer in `inputResponses`, taken only with that state for these very arguments (a state for
 * other arguments asks again). A later round of an accepted call (an external MCP tool asking for input of its own)
 * carries an `ok` state saying so. A state that is not intact, expired, used before or another caller's is refused
 * (nothing is sent). A client whose envelope declares no form-mode elicitation cannot be asked.
 */
export function modernConfirmation(a: ModernAsking): ConfirmationAsker {
  return async (prompt) => {
    const { sealing, ctx } = a;
    if (!sealing) return unavailable;
    const raw = ctx.mcpReq.requestState();
    if (isConfirmState(raw)) {
      const opened = await sealing.states.open(raw);
      if (!opened.ok) return invalid(opened.reason);
      const state = opened.claims;
      if (state.caller !== a.caller) return invalid('caller');
      if (state.digest === prompt.digest) {
        const action = state.stage === 'asked' ? actionOf(ctx.mcpReq.inputResponses?.[CONFIRM_INPUT_KEY]) : undefined;
        if (state.stage === 'ok' || action) {
          // Spent before it counts: a state works once, whichever edge sees it first.
          if (!(await sealing.states.spend(state))) return invalid('replayed');
          return action ? { kind: 'answered', action } : { kind: 'continued' };
        }
      }
    }
    if (!declaresFormElicitation(a.envelope[CLIENT_CAPABILITIES_META_KEY])) return unavailable;
    const requestState = await sealing.states.seal({
      stage: 'asked',
      digest: prompt.digest,
      caller: a.caller,
      expiresAt: Date.now() + sealing.ttlMs,
    });
    return { kind: 'ask', result: askResult(prompt, requestState) };
  };
}

/** What a 2025-era asker works with. */
export interface LegacyAsking {
  readonly deps: ToolCallDeps;
  /** The request's server: a legacy HTTP+SSE session's knows its client's capabilities. */
  readonly server: Server;
  readonly context: EdgeCallContext;
  readonly ctx: ServerContext;
  /** Aborts when the caller cancels or goes away: the wait ends, cancelled. */
  readonly signal: AbortSignal;
  /** The call is answered on an SSE stream (the only way a request can go out before its result). */
  readonly streamed: boolean;
}

const elicitParams = (prompt: ConfirmationPrompt) => ({
  mode: 'form' as const,
  message: prompt.message,
  requestedSchema: confirmationSchema,
});

/**
 * 2025-11-25: an `elicitation/create` request before the call's result. A legacy HTTP+SSE session's server knows its
 * client's capabilities and hears the answer itself (the SDK's `elicitInput`). A stateless Streamable HTTP call asks
 * when its session's `initialize` declared form-mode elicitation: the request goes on the call's SSE stream with an id
 * of the edge's own, and the answer comes on a new POST of the session, maybe to another edge (`ElicitationReplies`).
 * Undefined when the client cannot be asked this way.
 */
export function legacyConfirmation(a: LegacyAsking): ConfirmationAsker | undefined {
  const timeoutMs = a.deps.confirmTimeoutMs ?? DEFAULT_CONFIRM_TIMEOUT_MS;
  if (declaresFormElicitation(a.server.getClientCapabilities()))
    return (prompt) =>
      a.server.elicitInput(elicitParams(prompt), { timeout: timeoutMs, signal: a.signal }).then(
        (r): Confirmation => ({ kind: 'answered', action: actionOf(r) ?? 'cancel' }),
        () => cancelled,
      );
  const sessionId = a.ctx.sessionId ?? a.context.sessionId;
  const { formElicitations, elicitationReplies } = a.deps;
  if (!a.streamed || !sessionId || !formElicitations || !elicitationReplies) return undefined;
  return async (prompt) => {
    const { caller } = a.context;
    if (!(await formElicitations.declared(callerSessionScope(caller, sessionId)))) return unavailable;
    const transport = a.server.transport;
    if (!transport) return unavailable;
    const id = `${ELICITATION_ID_PREFIX}${randomUUID()}`;
    const key = ElicitationReplies.key(caller.clientId, caller.loaded.catalog.serverId, sessionId, id);
    const stop = new AbortController();
    // Registered before the request goes out: an answer is never earlier than the wait.
    const reply = elicitationReplies.wait(key, AbortSignal.any([a.signal, stop.signal]), timeoutMs).then(
      (r: ElicitationReply): Confirmation => ({ kind: 'answered', action: actionOf(r.result) ?? 'cancel' }),
      () => cancelled,
    );
    try {
      await transport.send(
        { jsonrpc: '2.0', id, method: 'elicitation/create', params: elicitParams(prompt) },
        { relatedRequestId: a.ctx.mcpReq.id },
      );
    } catch (err) {
      stop.abort();
      throw err;
    }
    return reply;
  };
}
