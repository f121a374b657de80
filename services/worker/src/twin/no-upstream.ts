import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * A twin job's scope (ADR 0112): nothing that runs in it may connect to an upstream. The worker's ways out check it
 * before they can connect: the undici dispatcher of HTTP operations (`upstreamInterceptor`), the outbound guard's URL
 * check (every request, redirects, got's `guardedFetch` for external MCP servers) and its `lookup` (every connection).
 */
const twinScope = new AsyncLocalStorage<true>();

/** Runs `run` where no upstream connection may be opened. */
export function withoutUpstream<T>(run: () => Promise<T>): Promise<T> {
  return twinScope.run(true, run);
}

/** Whether the code running now belongs to a twin job. */
export const upstreamForbidden = (): boolean => twinScope.getStore() === true;

/** What a twin job met when something in it tried to reach an upstream (`ETWIN`): a fault of ours, never sent. */
export class TwinEgressError extends Error {
  readonly code = 'ETWIN';
  constructor(what: string) {
    super(`refused: ${what} from a twin call (the twin opens no connection to any upstream)`);
    this.name = 'TwinEgressError';
  }
}

/** Throws `TwinEgressError` when called from a twin job. */
export function assertUpstreamAllowed(what: string): void {
  if (twinScope.getStore() === true) throw new TwinEgressError(what);
}
