import { promises as fs } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { InternalError } from '@toolplane/errors';
import type { Logger } from '@toolplane/logger';
import { createDb } from '../../db/client.ts';
import { openerOf, recordSource } from './records.ts';
import { emptyOutcome, replay, summarize, type RecordSource, type ReplaySummary } from './replay.ts';
import type { Rules } from './rules.ts';

/**
 * The replay on a thread of its own at the lowest CPU priority (ADR 0080, addendum): a backtest is a few seconds of
 * CPU (reading the period's records, opening their arguments, judging each call twice), and on the control plane's
 * event loop it competed with live work (every live call's execution record is stored through the control plane) and,
 * on the same cores, with the edges and workers. The thread (replay-worker.ts) lowers its own priority to nice 19
 * first thing (on Linux `setpriority(PRIO_PROCESS, 0)` applies to the calling thread only), then does all of the
 * replay: its own PostgreSQL connection (one; application_name `toolplane-backtest`), the records' pages, the arguments opened
 * with the control plane's key, the judgement and the tallies; it posts back the answer's counts. The main thread keeps
 * the request, the rules, the answer and cancellation: the client going away terminates the thread, which closes its
 * connections. One thread per backtest, ended with it. The thread is the control plane's process: the arguments' key
 * never leaves it.
 */

/** What the thread is given (structured-cloned into it). */
export interface ReplayJob {
  readonly databaseUrl: string;
  /**
   * `RECORD_ARGUMENTS_PRIVATE_KEY` or `…_FILE` (the thread reads the file itself; neither: arguments stay closed). The
   * thread is of the same process: the key does not leave the control plane.
   */
  readonly key: Parameters<typeof openerOf>[0];
  readonly workspaceId: string;
  readonly period: { readonly from: Date; readonly to: Date };
  readonly rules: { readonly current: Rules; readonly proposed: Rules };
  readonly maxCalls: number;
}

/** An error as it crosses from the thread: what the error handler reads (name, code, message, causes). */
interface ThreadError {
  name: string;
  message: string;
  stack?: string | undefined;
  code?: string | undefined;
  cause?: ThreadError | undefined;
}

/** What the thread posts: its priority once set (null: refused), the count after each page, the end. */
export type ThreadMessage =
  | { type: 'nice'; nice: number | null; error?: string }
  | { type: 'page'; replayed: number }
  | { type: 'done'; summary: ReplaySummary }
  | { type: 'failed'; error: ThreadError };

/** The name the thread carries (`/proc/<pid>/task/<tid>/comm`, 15 characters at most). */
export const THREAD_NAME = 'backtest-replay';
/** The thread's connections as PostgreSQL names them (`pg_stat_activity.application_name`). */
export const APPLICATION_NAME = 'toolplane-backtest';

const SOURCE_CONDITION = '--conditions=@toolplane/source';

function threadError(err: unknown, depth = 0): ThreadError {
  if (!(err instanceof Error)) return { name: 'Error', message: String(err) };
  const code = (err as { code?: unknown }).code;
  return {
    name: err.name,
    message: err.message,
    stack: err.stack,
    ...(typeof code === 'string' ? { code } : {}),
    ...(err.cause !== undefined && depth < 6 ? { cause: threadError(err.cause, depth + 1) } : {}),
  };
}

function rebuilt(e: ThreadError): Error {
  const err = new Error(e.message, e.cause ? { cause: rebuilt(e.cause) } : undefined);
  err.name = e.name;
  if (e.stack) err.stack = e.stack;
  if (e.code !== undefined) Object.assign(err, { code: e.code });
  return err;
}

function withApplicationName(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  if (!url.searchParams.has('application_name')) url.searchParams.set('application_name', APPLICATION_NAME);
  return url.toString();
}

/**
 * How long the thread rests between pages, per millisecond it worked on the last one (reading it, opening and judging
 * its calls): at most a third of one core. Nice 19 alone left live calls 0.80 × their rate on a saturated 2-core
 * machine, resting as long as it worked 0.92 ×, twice as long 0.98 × (docs/benchmarks.md): the page reads run in
 * PostgreSQL at normal priority, and a thread the scheduler puts on the other hyperthread of a busy core slows it.
 */
const REST_PER_WORK = 2;

interface Pacing {
  restPerWork: number;
  now: () => number;
  rest: (ms: number) => Promise<void>;
}
const realPacing: Pacing = {
  restPerWork: REST_PER_WORK,
  now: () => performance.now(),
  rest: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** `source` with the thread resting between pages (`REST_PER_WORK` of the time it worked since its last rest). */
export function pacedSource(source: RecordSource, pacing: Pacing = realPacing): RecordSource {
  let rested = pacing.now();
  return {
    async page(after, limit) {
      const worked = pacing.now() - rested;
      if (worked > 0 && pacing.restPerWork > 0) await pacing.rest(worked * pacing.restPerWork);
      rested = pacing.now();
      return source.page(after, limit);
    },
  };
}

/** The replay of `job`, in the thread (called by replay-worker.ts once its priority is lowered). */
export async function runReplayJob(job: ReplayJob, post: (m: ThreadMessage) => void): Promise<void> {
  // One connection: the replay reads one page at a time, and backtests at once are bounded (ADR 0091).
  const db = createDb(withApplicationName(job.databaseUrl), undefined, 1);
  try {
    const source = pacedSource(await recordSource(db, job.workspaceId, job.period, openerOf(job.key)));
    const outcome = await replay(source, job.rules, {
      maxCalls: job.maxCalls,
      onPage: (replayed) => post({ type: 'page', replayed }),
    });
    await db.$disconnect();
    post({ type: 'done', summary: summarize(outcome) });
  } catch (err) {
    await db.$disconnect().catch(() => undefined);
    post({ type: 'failed', error: threadError(err) });
  }
}

let running = 0;
/** Replay threads alive in this process (for tests: none is left behind by a cancelled backtest). */
export const replayThreads = (): number => running;

/**
 * Runs `job` on a thread of its own at the lowest priority; resolves once the thread has ended (its connections
 * closed). `signal` aborting (the client went away) terminates the thread: the outcome then says `cancelled`.
 */
export async function replayOffThread(
  job: ReplayJob,
  opts: { signal?: AbortSignal | undefined; log: Logger },
): Promise<ReplaySummary> {
  // libuv's thread pool (files, DNS, crypto: the whole process's) is started by the first thread that uses it, and a
  // thread inherits its creator's nice value: started by the replay's thread, the pool would run every later file
  // read of the control plane at nice 19. One call from here first makes sure it exists.
  await fs.access(new URL(import.meta.url));
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(fromSource ? './replay-worker.ts' : './replay-worker.js', import.meta.url);
  // From source, the workspace packages resolve to theirs (a loader that applied the condition itself, as jest's does,
  // leaves it out of execArgv).
  const execArgv = [...process.execArgv];
  if (fromSource && !execArgv.some((a) => a.includes('@toolplane/source'))) execArgv.push(SOURCE_CONDITION);
  const worker = new Worker(entry, { workerData: job, name: THREAD_NAME, execArgv });
  running++;
  let replayed = 0;
  let ended: { summary: ReplaySummary } | { error: Error } | undefined;
  worker.on('message', (m: ThreadMessage) => {
    if (m.type === 'nice' && m.nice === null)
      opts.log.warn({ err: m.error }, 'backtest: the replay thread kept its priority');
    else if (m.type === 'page') replayed = m.replayed;
    else if (m.type === 'done') ended = { summary: m.summary };
    else if (m.type === 'failed') ended = { error: rebuilt(m.error) };
  });
  worker.on('error', (err) => (ended ??= { error: err }));
  const cancel = () => void worker.terminate();
  opts.signal?.addEventListener('abort', cancel, { once: true });
  if (opts.signal?.aborted) cancel();
  const code = await new Promise<number>((resolve) => worker.once('exit', resolve));
  running--;
  opts.signal?.removeEventListener('abort', cancel);
  if (opts.signal?.aborted) return { ...summarize(emptyOutcome()), replayed, cancelled: true };
  if (ended && 'summary' in ended) return ended.summary;
  throw (
    ended?.error ?? new InternalError('internal.unexpected', `the backtest's replay thread ended with code ${code}`)
  );
}
