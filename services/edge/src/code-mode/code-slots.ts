import { clientKey } from '@toolplane/config';
import type { Principal } from '@toolplane/contracts';

/** How many `run_code` programs may run at once on one edge, and for one caller on it (CODE_MODE_MAX_PROGRAMS*). */
export interface ProgramBounds {
  perEdge: number;
  perCaller: number;
}

/** The defaults of the edge's CODE_MODE_MAX_PROGRAMS and CODE_MODE_MAX_PROGRAMS_PER_CALLER (env.ts). */
export const DEFAULT_PROGRAM_BOUNDS: ProgramBounds = { perEdge: 4, perCaller: 2 };

/** A program's place among those running: given back once its thread has ended. */
export interface ProgramSlot {
  release(): void;
}

/** Which bound has no room: the edge's, or the caller's. */
export type ProgramsRefusal = 'edge' | 'caller';

/**
 * The `run_code` programs running on this edge (ADR 0068): each holds a thread, QuickJS's memory and maybe a core for
 * its wall time, so at most `perEdge` run at once, and at most `perCaller` of one caller (`programCaller`). Past
 * either bound a program is refused at once (the caller retries), never queued: a queue would hold requests without
 * bound and spend their wall time waiting. In memory, per edge process.
 */
export class ProgramSlots {
  private running = 0;
  private readonly byCaller = new Map<string, number>();
  readonly bounds: ProgramBounds;

  constructor(bounds: ProgramBounds = DEFAULT_PROGRAM_BOUNDS) {
    this.bounds = bounds;
  }

  /** A slot for one program of `caller`, or which bound refused it. */
  take(caller: string): ProgramSlot | { refused: ProgramsRefusal } {
    const mine = this.byCaller.get(caller) ?? 0;
    if (mine >= this.bounds.perCaller) return { refused: 'caller' };
    if (this.running >= this.bounds.perEdge) return { refused: 'edge' };
    this.running++;
    this.byCaller.set(caller, mine + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        const left = (this.byCaller.get(caller) ?? 1) - 1;
        if (left > 0) this.byCaller.set(caller, left);
        else this.byCaller.delete(caller);
      },
    };
  }

  /** Programs running now (on this edge, or of one caller). */
  count(caller?: string): number {
    return caller === undefined ? this.running : (this.byCaller.get(caller) ?? 0);
  }
}

/**
 * Who a program counts against: the person it runs for (`x-username`, a token's user), else the API key, else the
 * OAuth subject, else (an anonymous caller of a public server) the client's address (an IPv6 address by its /64, as
 * the budget of unauthenticated requests counts it).
 */
export function programCaller(principal: Readonly<Principal>, clientAddress: string | undefined): string {
  if (principal.userId !== undefined) return `person:${principal.userId}`;
  if (principal.keyId !== undefined) return `key:${principal.keyId}`;
  if (principal.subject !== undefined && principal.subject !== 'anonymous') return `oauth:${principal.subject}`;
  return `address:${clientKey(clientAddress)}`;
}
