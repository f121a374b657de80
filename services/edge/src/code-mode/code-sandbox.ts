import { Worker } from 'node:worker_threads';

/** The caps of one `run_code` program (ADR 0068; the edge's CODE_MODE_* settings). */
export interface SandboxLimits {
  /** Wall time from the call's arrival to the result: the thread's start and inner calls included. */
  wallMs: number;
  /**
   * The program's memory: QuickJS's allocation limit, and how far the WebAssembly memory QuickJS runs in may grow past
   * the engine's own initial 16 MB (which bounds what the program holds in total).
   */
  memoryBytes: number;
  /** Console output kept (the rest is cut, and the result says so). */
  outputBytes: number;
  /** Inner tool calls (`tools.x(args)`) one program may make. */
  maxCalls: number;
  /** The program's return value, as JSON characters. */
  resultChars: number;
}

/** The defaults of the edge's CODE_MODE_* settings (env.ts). */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  wallMs: 10_000,
  memoryBytes: 32 * 1024 * 1024,
  outputBytes: 16 * 1024,
  maxCalls: 50,
  resultChars: 256 * 1024,
};

/** The program asks for one tool call (sandbox → edge). */
export interface SandboxRequest {
  type: 'call';
  id: number;
  name: string;
  /** The arguments as JSON. */
  args: string;
}

/** The answer to one tool call (edge → sandbox): the tool's value as JSON, or the message its Error carries. */
export type SandboxReply = { id: number; ok: true; json: string } | { id: number; ok: false; message: string };

/** How a program ended: its return value as JSON, or why it failed; its console output either way. */
export type SandboxResult =
  | { ok: true; json: string; output: string; truncated: boolean }
  | { ok: false; error: string; output: string; truncated: boolean };

/**
 * What the sandbox's inner calls go to: resolves to the tool's value (JSON) or to an Error's message, or `halt`: the
 * program is stopped there (it fails with that message; nothing it does after runs).
 */
export type InnerCall = (
  name: string,
  args: unknown,
) => Promise<{ json: string } | { message: string } | { halt: string }>;

/** A thread that neither ends by itself nor is stopped by its interrupt handler is ended this long after its wall time. */
const TERMINATE_GRACE_MS = 1000;

/** The call a program runs for: when it arrived, and whether it is cancelled. */
interface SandboxCall {
  /** When the call arrived (epoch ms): the program's wall time counts from there. Default: now. */
  arrivedAt?: number;
  /** Aborts when the caller cancels or disconnects: the program is stopped then (its place is given back). */
  signal?: AbortSignal | undefined;
}

/**
 * Runs one program in a QuickJS sandbox on a worker thread of its own (code-sandbox-worker.ts): the edge's event loop
 * never runs the program, so a program that spins only spins its thread, which is ended at its wall time whatever it
 * does. The wall time counts from the call's arrival (`call.arrivedAt`): starting the thread and loading QuickJS are
 * part of it. Each `tools.x(args)` is handed to `inner`, whose answer goes back to the program. Resolves once the
 * thread has ended.
 */
export function runInSandbox(
  code: string,
  limits: SandboxLimits,
  inner: InnerCall,
  call: SandboxCall = {},
): Promise<SandboxResult> {
  const source = import.meta.url.endsWith('.ts') ? './code-sandbox-worker.ts' : './code-sandbox-worker.js';
  const deadline = (call.arrivedAt ?? Date.now()) + limits.wallMs;
  return new Promise((resolve) => {
    const worker = new Worker(new URL(source, import.meta.url), {
      workerData: { code, limits, deadline },
      // The program's heap is QuickJS's (a WebAssembly memory bounded by the program's memory limit); this caps the
      // thread's own V8 heap (the strings it copies out of QuickJS).
      resourceLimits: { maxOldGenerationSizeMb: 64, maxYoungGenerationSizeMb: 16 },
    });
    let done = false;
    const cancelled = () => stop('The call was cancelled: the program was stopped.');
    const finish = (result: SandboxResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      call.signal?.removeEventListener('abort', cancelled);
      const ended = () => resolve(result);
      worker.terminate().then(ended, ended);
    };
    const stop = (error: string) => finish({ ok: false, error, output: '', truncated: false });
    // The thread's own interrupt handler stops the program at the deadline; this ends a thread that did not.
    const timer = setTimeout(
      () => stop(`The program ran longer than ${limits.wallMs} ms and was stopped.`),
      Math.max(0, deadline - Date.now()) + TERMINATE_GRACE_MS,
    );
    if (call.signal?.aborted) cancelled();
    else call.signal?.addEventListener('abort', cancelled, { once: true });
    worker.on('message', (m: SandboxRequest | { type: 'done'; result: SandboxResult }) => {
      if (m.type === 'done') return finish(m.result);
      void answer(inner, m).then((reply) => {
        if ('halt' in reply) finish({ ok: false, error: reply.halt, output: '', truncated: false });
        else if (!done) worker.postMessage(reply);
      });
    });
    worker.once('error', (err) =>
      finish({ ok: false, error: sandboxError(err, limits), output: '', truncated: false }),
    );
    worker.once('exit', () =>
      finish({ ok: false, error: 'The program stopped without a result.', output: '', truncated: false }),
    );
  });
}

async function answer(inner: InnerCall, m: SandboxRequest): Promise<SandboxReply | { halt: string }> {
  let args: unknown;
  try {
    args = JSON.parse(m.args);
  } catch {
    return { id: m.id, ok: false, message: 'The arguments are not JSON.' };
  }
  try {
    const r = await inner(m.name, args);
    if ('halt' in r) return r;
    return 'json' in r ? { id: m.id, ok: true, json: r.json } : { id: m.id, ok: false, message: r.message };
  } catch {
    return { id: m.id, ok: false, message: 'The tool call failed because of an internal error.' };
  }
}

function sandboxError(err: Error, limits: SandboxLimits): string {
  if ((err as { code?: string }).code === 'ERR_WORKER_OUT_OF_MEMORY')
    return `The program used more than ${Math.round(limits.memoryBytes / 1048576)} MB of memory and was stopped.`;
  return 'The program failed because of an internal error.';
}
