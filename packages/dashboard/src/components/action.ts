import { useState } from 'react';

/** What a form's action (create, save, delete…) is doing and how it went, and the way to start it. */
export interface Action {
  /** Running (a form's buttons are disabled meanwhile). */
  busy: boolean;
  /** The row it runs on (`run`'s `row`), while it runs: that row's button shows busy. */
  pending: string | null;
  error: unknown;
  /** The title of `error`'s box (`run`'s `failed`). */
  failed: string;
  /** What the last action did, for a status message. */
  done: string | null;
  /**
   * Runs `call`, clearing the last error and message; `then` gets its result and returns the message to show, if
   * any. `failed` titles the error box; `row` marks the row acted on.
   */
  run: <R>(
    call: () => Promise<R>,
    opts?: { then?: (result: R) => string | void; failed?: string; row?: string },
  ) => void;
  /** Shows an error found before sending (a form field the client checks). */
  fail: (error: unknown, failed?: string) => void;
}

export function useAction(): Action {
  const [pending, setPending] = useState<string | null>(null);
  const [error, setError] = useState<{ error: unknown; failed: string } | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const fail = (err: unknown, failed = '') => {
    setError({ error: err, failed });
    setDone(null);
  };
  const run: Action['run'] = (call, opts = {}) => {
    setPending(opts.row ?? '');
    setError(null);
    setDone(null);
    call()
      .then(
        (result) => setDone(opts.then?.(result) ?? null),
        (err: unknown) => fail(err, opts.failed),
      )
      .finally(() => setPending(null));
  };
  return {
    busy: pending !== null,
    pending,
    error: error?.error ?? null,
    failed: error?.failed ?? '',
    done,
    run,
    fail,
  };
}
