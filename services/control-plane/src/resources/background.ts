import type pg from 'pg';
import type { ControlPlaneDeps } from './deps.ts';

/** What a resource's background work is given: the handlers' dependencies and the records' own small pool. */
export interface BackgroundContext {
  deps: ControlPlaneDeps;
  /** A pool of its own for the record ingestion path and retention (app.ts, `openStores`). */
  ingestPool: pg.Pool;
}

/**
 * What a resource runs besides its operations, declared in its own folder (`<name>/background.ts`) and listed once in
 * `backgrounds.ts`; `app.ts` runs every declaration the same way, in the list's order (stops in the reverse order).
 * Each part is optional.
 */
export interface Background {
  /** Before the runtime state is first published: consumers of the workers' and edges' Redis streams. */
  start?(): Promise<void>;
  /**
   * What edges and workers read from Redis, written again from PostgreSQL (the truth): at start, before the HTTP
   * server listens, and whenever the keeper sees that Redis lost it. Answers the counts the log line shows.
   */
  republish?(): Promise<Record<string, number>>;
  /** What is older than its retention setting deleted: at start, then every 10 minutes. Answers what went. */
  retention?(now: Date): Promise<Record<string, unknown>>;
  /** Once the HTTP server listens: periodic jobs. */
  serve?(): void;
  stop?(): Promise<void> | void;
}

/** A resource's declaration: its background, made once per control plane. */
export type ResourceBackground = (ctx: BackgroundContext) => Background;
