import type { ToolInvokeEvent } from '@toolplane/contracts';
import type { ServerContext } from '@modelcontextprotocol/server';
import { callerSessionScope, type EdgeCallContext } from '../calls/call-context.ts';
import { isProxiedTool } from '../state/catalogs.ts';
import { isLogLevel, logPasses, type LogLevel } from './protocol-state.ts';
import type { RelayedRequest } from './relay.ts';
import type { LiveCall, ToolCallDeps } from '../calls/call-types.ts';

/**
 * What the caller wants to hear while the call runs: progress (it sent `_meta.progressToken`) and the
 * log messages of a proxied external MCP server (at its log level: 2026-07-28 `_meta`, or the 2025
 * session's `logging/setLevel`). Undefined, and no cost, for a plain call.
 * Progress values: a proxied server's own, passed on; otherwise the edge counts one per event (a
 * workflow step ended, or `progressIntervalMs` passed while waiting), with a message saying which.
 */
export async function liveCall(
  call: EdgeCallContext,
  deps: ToolCallDeps,
  ctx: ServerContext,
  tool: { name: string; relay?: ((request: RelayedRequest) => void) | undefined },
): Promise<(LiveCall & { stop(): void; flush(): Promise<unknown> }) | undefined> {
  const { name, relay } = tool;
  const token = ctx.mcpReq._meta?.progressToken;
  const proxied = isProxiedTool(call.caller.loaded, name);
  let logLevel: LogLevel | undefined;
  if (proxied) {
    const modern = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.['io.modelcontextprotocol/logLevel'];
    logLevel = isLogLevel(modern) ? modern : call.logLevel;
    // A legacy SSE session (stateful transport): its level was not looked up before the request.
    if (logLevel === undefined && ctx.sessionId && deps.logLevels)
      logLevel = await deps.logLevels.get(callerSessionScope(call.caller, ctx.sessionId));
  }
  if (token === undefined && logLevel === undefined && !relay) return undefined;
  const sending = new Set<Promise<void>>();
  const notify = (method: string, params: Record<string, unknown>) => {
    const p = ctx.mcpReq.notify({ method, params }).catch(() => undefined);
    sending.add(p);
    void p.then(() => sending.delete(p));
  };
  let count = 0;
  const progress = (value: number | undefined, total?: number, message?: string) => {
    if (token === undefined) return;
    const p = proxied && value !== undefined ? value : ++count;
    notify('notifications/progress', {
      progressToken: token,
      progress: p,
      ...(total !== undefined ? { total } : {}),
      ...(message !== undefined ? { message } : {}),
    });
  };
  let timer: NodeJS.Timeout | undefined;
  const interval = deps.progressIntervalMs ?? 0;
  if (token !== undefined && !proxied && interval > 0) {
    const started = Date.now();
    timer = setInterval(
      () => progress(undefined, undefined, `Still running (${Math.round((Date.now() - started) / 1000)} s)`),
      interval,
    );
    timer.unref();
  }
  return {
    progress: token !== undefined,
    ...(logLevel ? { logLevel } : {}),
    onEvent(event: ToolInvokeEvent['event']) {
      if (event.kind === 'progress')
        progress(proxied ? event.progress : undefined, proxied ? event.total : undefined, event.message);
      else if (event.kind === 'request') relay?.(event);
      else if (logLevel && logPasses(event.level, logLevel))
        notify('notifications/message', {
          level: event.level,
          data: event.data,
          ...(event.logger !== undefined ? { logger: event.logger } : {}),
        });
    },
    stop() {
      if (timer) clearInterval(timer);
    },
    flush: () => Promise.all(sending),
  };
}
