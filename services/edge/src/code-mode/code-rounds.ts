import { createHash, randomUUID } from 'node:crypto';
import type { ToolResultPayload } from '@toolplane/contracts';
import type { ConfirmSealing } from '../confirmation/confirmation.ts';

/**
 * The rounds of a 2026-07-28 `run_code` call whose inner call asks the client for input (a tool marked `confirm`, an
 * external tool's own `input_required`; ADR 0068 "Input inside a program"). The edge keeps nothing between rounds:
 * the `run_code` result is `input_required` with the inner call's input requests and a state sealed by the edge
 * (AES-256-GCM under the deployment's confirmation key: the client can neither read nor change it). The state names
 * the program (a digest of server and code), the caller, an expiry, a single-use nonce, the inner calls already made
 * (index, tool, digest of the arguments, what the program got) and the one that asked (with its own request state).
 * The retry runs the program again from the start: the calls made are answered from the state, never sent again;
 * the one that asked gets the client's input responses; a program that makes another call at some index is stopped.
 */

const PURPOSE = 'tp-code';

/** The most the recorded results of a program's inner calls may be (characters of JSON or message), in one state. */
export const REPLAY_MAX_CHARS = 64 * 1024;

/** What the program got of one inner call: the value as JSON, or the message of its Error. */
export type InnerOutcome = { readonly json: string } | { readonly message: string };

/** One inner call made in an earlier round. */
interface MadeCall {
  readonly i: number;
  readonly t: string;
  /** The digest of its arguments (`argumentsDigest`). */
  readonly a: string;
  readonly o: InnerOutcome;
}

/** The inner call that asked for input, and its own request state (the retry gives it back, with the responses). */
interface AskedCall {
  readonly i: number;
  readonly t: string;
  readonly a: string;
  readonly s: unknown;
}

interface CodeState {
  readonly v: 1;
  /** `programDigest(server, code)`. */
  readonly p: string;
  /** `principalBinding` of the caller. */
  readonly c: string;
  /** Epoch ms after which the state is refused. */
  readonly x: number;
  readonly n: string;
  readonly made: readonly MadeCall[];
  readonly asked: AskedCall;
  /** The program's invocation id, the same in every round: its inner calls' records name it as their parent. */
  readonly r?: string;
}

/** Whether a `requestState` claims to be a program's (the edge's own). */
export const isCodeState = (raw: unknown): raw is string => typeof raw === 'string' && raw.startsWith(`${PURPOSE}.`);

/** The digest a state binds the program to: the server and the exact code. */
export const programDigest = (serverId: string, code: string) =>
  createHash('sha256')
    .update(JSON.stringify([serverId, code]))
    .digest('base64url');

function isState(v: unknown): v is CodeState {
  const s = v as Partial<CodeState> | null;
  return (
    s?.v === 1 &&
    typeof s.p === 'string' &&
    typeof s.c === 'string' &&
    typeof s.x === 'number' &&
    typeof s.n === 'string' &&
    Array.isArray(s.made) &&
    typeof s.asked === 'object' &&
    s.asked !== null
  );
}

/** Why a program's state is refused. */
export type CodeStateRefusal = 'invalid' | 'expired' | 'replayed' | 'other';

/**
 * A state opened and used up: intact, for this program and this caller, not expired, its nonce spent (a state works
 * once, whichever edge sees it first).
 */
export async function openCodeState(
  sealing: ConfirmSealing,
  raw: string,
  expect: { program: string; caller: string },
): Promise<{ replay: ProgramReplay } | { refused: CodeStateRefusal }> {
  const state = await sealing.states.openValue(PURPOSE, raw);
  if (!isState(state)) return { refused: 'invalid' };
  if (state.p !== expect.program || state.c !== expect.caller) return { refused: 'other' };
  if (state.x <= Date.now()) return { refused: 'expired' };
  if (!(await sealing.states.spend({ nonce: state.n, expiresAt: state.x }))) return { refused: 'replayed' };
  return { replay: new ProgramReplay(state.made, state.asked, typeof state.r === 'string' ? state.r : undefined) };
}

/** What the program's next inner call is: answered from the state, stopped, or run (the asked one with the responses). */
export type ReplayStep =
  | { readonly kind: 'replayed'; readonly outcome: InnerOutcome }
  | { readonly kind: 'stop'; readonly message: string }
  | { readonly kind: 'run'; readonly index: number; readonly answers?: { readonly requestState: unknown } };

/** The inner call of this round that asked for input: its result carries the input requests. */
interface Asking {
  readonly index: number;
  readonly tool: string;
  readonly args: string;
  readonly result: ToolResultPayload;
}

/**
 * One round of a program's inner calls, in the order the program makes them: what earlier rounds made (answered from
 * the state), what this round makes (recorded for the next), and the first call that asks for input (the round stops
 * there: later calls are not made).
 */
export class ProgramReplay {
  private readonly earlier: ReadonlyMap<number, MadeCall>;
  private readonly answered: AskedCall | undefined;
  private readonly made = new Map<number, MadeCall>();
  private readonly running = new Set<Promise<unknown>>();
  private next = 0;
  private stopped: string | undefined;
  asking: Asking | undefined;
  /** The program's invocation id (`run_code`'s `invocationId`), kept across rounds. */
  readonly invocationId: string;

  constructor(earlier: readonly MadeCall[] = [], answered?: AskedCall, invocationId: string = randomUUID()) {
    this.invocationId = invocationId;
    this.earlier = new Map(earlier.map((m) => [m.i, m]));
    for (const m of earlier) this.made.set(m.i, m);
    this.answered = answered;
  }

  /** The next inner call: `tool` with arguments of digest `args`. */
  begin(tool: string, args: string): ReplayStep {
    if (this.stopped !== undefined) return { kind: 'stop', message: this.stopped };
    const index = this.next++;
    const expected = this.earlier.get(index) ?? (this.answered?.i === index ? this.answered : undefined);
    if (expected && (expected.t !== tool || expected.a !== args)) {
      this.stopped =
        `The program is not the same when run again: its inner call #${index + 1} was ${expected.t} with other ` +
        `arguments before, and is ${tool} now. Nothing more was called. Programs that ask for input must make the same ` +
        'calls in the same order each time (no Date, Math.random or racing calls deciding them).';
      return { kind: 'stop', message: this.stopped };
    }
    const made = this.earlier.get(index);
    if (made) return { kind: 'replayed', outcome: made.o };
    return this.answered?.i === index
      ? { kind: 'run', index, answers: { requestState: this.answered.s } }
      : { kind: 'run', index };
  }

  /** Tracks a call being made: the round's state is sealed only once every call it started has ended. */
  track<T>(p: Promise<T>): Promise<T> {
    this.running.add(p);
    void p.finally(() => this.running.delete(p)).catch(() => undefined);
    return p;
  }

  /** A call of this round ended: what the program got. */
  record(index: number, tool: string, args: string, outcome: InnerOutcome): void {
    this.made.set(index, { i: index, t: tool, a: args, o: outcome });
  }

  /** A call asked for input: the first one is carried by the state; the round stops (later calls are not made). */
  ask(asking: Asking): string {
    this.asking ??= asking;
    this.stopped ??= 'The program waits for input from the client.';
    return this.stopped;
  }

  /** Every call this round started has ended. */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /**
   * The `input_required` result of the round that asked: the asking call's input requests, and a new state with every
   * call made so far; undefined when their results are too large to carry (`REPLAY_MAX_CHARS`).
   */
  async result(
    sealing: ConfirmSealing,
    bound: { program: string; caller: string },
  ): Promise<ToolResultPayload | undefined> {
    const asking = this.asking!;
    const made = [...this.made.values()].sort((a, b) => a.i - b.i);
    const size = made.reduce((n, m) => n + ('json' in m.o ? m.o.json.length : m.o.message.length), 0);
    if (size > REPLAY_MAX_CHARS) return undefined;
    const state: CodeState = {
      v: 1,
      p: bound.program,
      c: bound.caller,
      x: Date.now() + sealing.ttlMs,
      n: randomUUID(),
      made,
      asked: { i: asking.index, t: asking.tool, a: asking.args, s: asking.result.requestState },
      r: this.invocationId,
    };
    const { inputRequests } = asking.result;
    return {
      content: [],
      resultType: 'input_required',
      ...(inputRequests ? { inputRequests } : {}),
      requestState: await sealing.states.sealValue(PURPOSE, state),
    };
  }

  /** How many calls were made, all rounds together. */
  get madeCount(): number {
    return this.made.size;
  }
}
