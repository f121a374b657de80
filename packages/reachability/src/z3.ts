import { init, type Context } from 'z3-solver';

/**
 * The solver (z3-solver: Z3 compiled to WebAssembly). Initialised once per process, on the first query, and reused:
 * loading the module costs most of a second; a query then costs milliseconds. One context holds every query's terms;
 * its high-level API runs one check at a time (later checks wait their turn).
 */
export type Z3 = Context<'reach'>;

let loading: Promise<{ z3: Z3; stop: () => Promise<void> }> | undefined;

/** The process's solver context (initialised on the first call). */
export async function solver(): Promise<Z3> {
  loading ??= init().then(async (api) => {
    const { killThreads } = await import('z3-solver');
    return { z3: new api.Context('reach'), stop: () => killThreads(api.em) };
  });
  return (await loading).z3;
}

/** Ends the solver's worker threads (so a process that is done may exit); the next query initialises it again. */
export async function stopSolver(): Promise<void> {
  const current = loading;
  loading = undefined;
  if (current) await (await current).stop();
}
