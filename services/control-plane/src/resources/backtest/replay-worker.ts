import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import type { ReplayJob, ThreadMessage } from './replay-thread.ts';

/**
 * The thread of one backtest (replay-thread.ts): first its own priority lowered to the lowest (nice 19: the scheduler
 * gives it what live work leaves), before it loads the replay's modules; then the replay, its counts posted back.
 * Linux only: there `setpriority(PRIO_PROCESS, 0)` is the calling thread's; elsewhere it would be the whole process's.
 */
const post = (m: ThreadMessage) => parentPort!.postMessage(m);
if (process.platform === 'linux') {
  try {
    setPriority(0, 19);
    post({ type: 'nice', nice: 19 });
  } catch (err) {
    post({ type: 'nice', nice: null, error: err instanceof Error ? err.message : String(err) });
  }
}
const { runReplayJob } = await import('./replay-thread.ts');
await runReplayJob(workerData as ReplayJob, post);
