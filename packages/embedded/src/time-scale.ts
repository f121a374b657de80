import { availableParallelism, loadavg } from 'node:os';

/**
 * How much slower than an idle machine the test suite should expect this one to be: the factor every bounded wait of
 * the tests and their harnesses is multiplied by (a deadline that fails a broken run, never one a slow run may miss).
 * `TEST_TIME_SCALE` when set (scripts/run-tests.ts sets it once for a run, from the rule below, and prints it; a
 * process that finds it unset sets it the first time it asks); otherwise 3 under `CI=true` (CI runners are noisy), 2
 * elsewhere, raised to the machine's load per core when that is
 * higher (capped at 6). Waits for a process to be ready have no deadline at all: they end when it answers or exits.
 */
export function timeScale(env: Record<string, string | undefined> = process.env): number {
  const given = Number(env.TEST_TIME_SCALE);
  if (env.TEST_TIME_SCALE && Number.isFinite(given) && given >= 1) return given;
  const base = env.CI === 'true' ? 3 : 2;
  const perCore = loadavg()[0]! / Math.max(1, availableParallelism());
  const scale = Math.max(base, Math.min(6, Math.ceil(perCore * 2) / 2));
  // Decided once per process (and for the processes it starts): a harness and its test must agree on the figure.
  if (env === process.env) process.env.TEST_TIME_SCALE = String(scale);
  return scale;
}

/** `ms` (what a wait needs on an idle machine) multiplied by `timeScale()`. */
export function scaled(ms: number): number {
  return Math.round(ms * timeScale());
}
