import { rateLimited } from './limits.ts';

/**
 * How many backtests run at once (ADR 0091): each is a thread with a database connection of its own, so
 * at most `max` per control plane and `perWorkspace` per workspace; one more answers 429 with `Retry-After` at once,
 * before any work, instead of queueing. A slot is held until the replay's thread has ended.
 */
export class BacktestSlots {
  private running = 0;
  private readonly byWorkspace = new Map<string, number>();
  private readonly max: number;
  private readonly perWorkspace: number;
  private readonly retryAfterSeconds: number;

  constructor(limits: { max: number; perWorkspace: number; retryAfterSeconds?: number }) {
    this.max = limits.max;
    this.perWorkspace = limits.perWorkspace;
    this.retryAfterSeconds = limits.retryAfterSeconds ?? 5;
  }

  /** A slot for one backtest of `workspaceId` (429 when none is free); the function given back frees it, once. */
  take(workspaceId: string): () => void {
    const mine = this.byWorkspace.get(workspaceId) ?? 0;
    const retry = this.retryAfterSeconds * 1000;
    if (this.running >= this.max)
      throw rateLimited(retry, `${this.max} backtests are already running on this control plane`);
    if (mine >= this.perWorkspace)
      throw rateLimited(retry, `${this.perWorkspace} backtests of this workspace are already running`);
    this.running++;
    this.byWorkspace.set(workspaceId, mine + 1);
    let freed = false;
    return () => {
      if (freed) return;
      freed = true;
      this.running--;
      const left = (this.byWorkspace.get(workspaceId) ?? 1) - 1;
      if (left > 0) this.byWorkspace.set(workspaceId, left);
      else this.byWorkspace.delete(workspaceId);
    };
  }
}
