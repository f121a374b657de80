// Waiting for a condition the test caused (a change reaching edges and workers, a record stored), never a pause.
// Every deadline here is a failure detector, not a speed check: it is multiplied by `timeScale()`
// (@toolplane/embedded: TEST_TIME_SCALE, or 3 under CI=true, 2 elsewhere, more on a machine loaded beyond that).
import { scaled } from '@toolplane/embedded';

export { scaled };

/**
 * How long a test waits for a change to reach edges and workers over pub/sub: 5 s on an idle machine, scaled, but
 * always below every cache lifetime a test relies on (API keys 60 s, tool lists 10 s, secrets 30 s), so a pass shows
 * the change was pushed, not that a cache expired.
 */
export const PROPAGATION_DEADLINE_MS = Math.min(scaled(5_000), 9_000);

/**
 * Polls `probe` until it returns something other than `undefined` (or `false`), and returns that.
 * Fails after `timeoutMs` (real milliseconds: scale a figure of your own with `scaled`) with
 * `timed out waiting for <what>` and the last thing the probe returned or threw (a probe may throw while its
 * condition does not hold yet, e.g. a record not found). For conditions the test causes, not as a pause.
 */
export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = scaled(30_000),
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      const shown = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out waiting for ${what} after ${timeoutMs} ms (last: ${shown})`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
