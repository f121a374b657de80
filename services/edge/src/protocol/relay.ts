import { randomUUID } from 'node:crypto';
import type { ToolInvokeEvent } from '@toolplane/contracts';
import type { Server, ServerContext } from '@modelcontextprotocol/server';
import type { EdgeCallContext } from '../calls/call-context.ts';
import { ELICITATION_ID_PREFIX } from '../confirmation/confirmation.ts';
import { ElicitationReplies, type ElicitationReply } from './protocol-state.ts';
import type { ToolCallDeps } from '../calls/call-types.ts';

/** A request an external MCP server sent during a call, as the worker passed it on. */
export type RelayedRequest = Extract<ToolInvokeEvent['event'], { kind: 'request' }>;

/** How long the edge waits for a caller's answer to a relayed request by default (a person may be asked). */
const DEFAULT_RELAY_TIMEOUT_MS = 10 * 60_000;

/** What a relay works with: the request's server (its transport answers on the call's stream) and the call's context. */
export interface RelayTarget {
  readonly deps: ToolCallDeps;
  readonly server: Server;
  readonly context: EdgeCallContext;
  readonly ctx: ServerContext;
  /** Aborts when the caller cancels or goes away: the wait ends and the external server gets an error. */
  readonly signal: AbortSignal;
}

/**
 * 2025-era relay of an external MCP server's `sampling/createMessage` and `elicitation/create` during a call: the
 * request goes on the call's own SSE stream with an id of the edge's own, the client's answer comes on a new POST of
 * its session (maybe to another edge, heard through `ElicitationReplies`), and is published to the worker waiting
 * for it (`relayReplies`). A caller that does not answer in time, or goes away, answers an error.
 */
export function relayRequests(t: RelayTarget): ((request: RelayedRequest) => void) | undefined {
  const { elicitationReplies, relayReplies } = t.deps;
  const sessionId = t.ctx.sessionId ?? t.context.sessionId;
  const transport = t.server.transport;
  if (!elicitationReplies || !relayReplies || !sessionId || !transport) return undefined;
  const timeoutMs = t.deps.confirmTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
  const { caller } = t.context;
  return (request) => {
    const id = `${ELICITATION_ID_PREFIX}${randomUUID()}`;
    const key = ElicitationReplies.key(caller.clientId, caller.loaded.catalog.serverId, sessionId, id);
    const answer = elicitationReplies.wait(key, t.signal, timeoutMs).catch((err: unknown): ElicitationReply => ({
      error: {
        code: -32001,
        message: `The caller did not answer: ${err instanceof Error ? err.message : String(err)}`,
      },
    }));
    void transport
      .send(
        { jsonrpc: '2.0', id, method: request.method, params: request.params },
        { relatedRequestId: t.ctx.mcpReq.id },
      )
      .then(
        () => answer,
        (err: unknown): ElicitationReply => ({
          error: { code: -32603, message: `The request could not reach the caller: ${String(err)}` },
        }),
      )
      .then((reply) => relayReplies.reply(request.relayId, reply))
      .catch((err: unknown) => t.deps.log.warn({ err }, 'a relayed answer could not be published'));
  };
}

/**
 * The same relay for a legacy HTTP+SSE session (MCP 2024-11-05 transport): its server is stateful, knows the client's
 * capabilities from its `initialize` and hears the client's answers on the session itself, so it asks with the SDK's
 * own requests; the answer (or the error) is published to the waiting worker as above.
 */
export function sessionRelayRequests(
  server: Server,
  deps: ToolCallDeps,
  signal: AbortSignal,
): ((request: RelayedRequest) => void) | undefined {
  const { relayReplies } = deps;
  if (!relayReplies) return undefined;
  const timeout = deps.confirmTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
  return (request) => {
    const options = { signal, timeout };
    const asked =
      request.method === 'sampling/createMessage'
        ? server.createMessage(request.params as never, options)
        : server.elicitInput(request.params as never, options);
    void asked
      .then(
        (result): ElicitationReply => ({ result }),
        (err: unknown): ElicitationReply => ({
          error: {
            code: typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -32603,
            message: `The caller did not answer: ${err instanceof Error ? err.message : String(err)}`,
          },
        }),
      )
      .then((reply) => relayReplies.reply(request.relayId, reply))
      .catch((err: unknown) => deps.log.warn({ err }, 'a relayed answer could not be published'));
  };
}
