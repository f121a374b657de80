import { randomUUID } from 'node:crypto';
import { toolResultValue, type ToolResultPayload } from '@toolplane/contracts';
import { bindActiveContext, currentTraceIds, recordToolCall } from '@toolplane/telemetry';
import { deniedToolCall } from '../governance/access.ts';
import { edgeRecordBase, errorResult, refuse, type Rejection } from '../pipeline/refusal.ts';
import { runCall } from '../pipeline/run.ts';
import { confirmSealing, type ToolCall, type ToolCallDeps } from '../calls/call-types.ts';
import {
  isCodeState,
  openCodeState,
  programDigest,
  ProgramReplay,
  REPLAY_MAX_CHARS,
  type CodeStateRefusal,
  type InnerOutcome,
} from './code-rounds.ts';
import {
  DEFAULT_SANDBOX_LIMITS,
  runInSandbox,
  type InnerCall,
  type SandboxLimits,
  type SandboxResult,
} from './code-sandbox.ts';
import { programCaller, ProgramSlots, type ProgramsRefusal } from './code-slots.ts';
import { argumentsDigest, principalBinding } from '../confirmation/confirmation.ts';
import { programEvent, type ProgramCall } from '@toolplane/access';
import { callEvents } from '../calls/call-audit.ts';

/** The most of a failed program's error its record keeps. */
const RECORD_MESSAGE_MAX = 500;

/** The text a model would read of a result (its text content). */
const textOf = (r: ToolResultPayload) =>
  r.content
    .map((c) => (c.type === 'text' ? c.text : ''))
    .join('\n')
    .trim();

/** A tool result as the program's value: its structured content, else its text parsed as JSON, else the text. */
function valueOf(r: ToolResultPayload): unknown {
  if (r.structuredContent !== undefined) return r.structuredContent;
  const text = textOf(r);
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * An inner call held for someone else's approval (ADR 0049): the program's Error says it waits, and what to do once it
 * is approved. Undefined for other results.
 */
function approvalWait(name: string, r: ToolResultPayload): string | undefined {
  const approval = r._meta?.['toolplane/approval'] as { id?: unknown; state?: unknown } | undefined;
  if (approval?.state !== 'pending' || typeof approval.id !== 'string') return undefined;
  return (
    `waiting for approval ${approval.id}: ${textOf(r)} From a program: once it is approved, call "${name}" directly ` +
    'with the same arguments, or run the program again (its other inner calls then run again).'
  );
}

/** What the program gets of an inner call's result: its value, or the message of the Error it throws. */
function outcomeOf(name: string, result: ToolResultPayload): InnerOutcome {
  if (result.isError) return { message: approvalWait(name, result) ?? (textOf(result) || `${name} failed.`) };
  if (result.resultType === 'input_required' || result.protocolError)
    return { message: `${name} needs input from the client, which this call cannot carry: call it directly.` };
  return { json: JSON.stringify(valueOf(result)) ?? 'null' };
}

/**
 * The program's inner calls: each a call of the same caller through the call pipeline (`runCall`), in the order the program makes them
 * (`replay`: the calls an earlier round made are answered from its state, never sent again). On 2026-07-28 an inner
 * call that asks the client for input stops the program; `runCode` then answers with its input requests.
 */
function innerCalls(
  deps: ToolCallDeps,
  call: ToolCall,
  round: { parentInvocationId: string; replay: ProgramReplay; calls: ProgramCall[] },
): InnerCall {
  const { parentInvocationId, replay, calls } = round;
  const rounds = confirmSealing(deps) ? call.codeRounds : undefined;
  return async (name, args) => {
    const target = call.loaded.tools.get(name);
    if (!target) {
      const denied = deniedToolCall(deps.records, { ...call, parentInvocationId }, name);
      return { message: denied ? textOf(denied) : `No tool named "${name}" in this catalog.` };
    }
    if (!args || typeof args !== 'object' || Array.isArray(args))
      return { message: `The arguments of ${name} must be an object.` };
    const input = args as Record<string, unknown>;
    const digest = argumentsDigest(call.loaded.catalog.serverId, name, input);
    const step = replay.begin(name, digest);
    if (step.kind === 'replayed') {
      calls.push({ tool: name, outcome: 'replayed' });
      return step.outcome;
    }
    if (step.kind === 'stop') return { halt: step.message };
    const asked = rounds?.inner(name, step.answers);
    const invocationId = randomUUID();
    const innerCall: ToolCall = {
      ...call,
      name,
      arguments: input,
      parentInvocationId,
      invocationId,
      codeRounds: undefined,
      ...(asked ? { confirmation: asked.confirmation, multiRound: asked.multiRound } : {}),
    };
    const result = toolResultValue(await replay.track(runCall(deps, innerCall, target)));
    if (rounds && result.resultType === 'input_required' && !result.isError)
      return { halt: replay.ask({ index: step.index, tool: name, args: digest, result }) };
    const outcome = outcomeOf(name, result);
    replay.record(step.index, name, digest, outcome);
    calls.push({ tool: name, invocationId, outcome: 'json' in outcome ? 'ok' : 'error' });
    return outcome;
  };
}

const stateRefusals: Record<CodeStateRefusal, string> = {
  invalid: 'not one the edge made, or altered',
  other: 'made for another program or caller',
  expired: 'expired',
  replayed: 'already used',
};

/** The bounds of an edge whose deps name none (the defaults): one set for the process. */
const defaultSlots = new ProgramSlots();

/**
 * `run_code`: the program runs in a sandbox (code-sandbox.ts); each `tools.x(args)` is a call of the same caller
 * through the call pipeline (`runCall`), the path of every `tools/call` (access, conditions, confirmation, approvals, quotas, guardrails,
 * records), linked to this call by `parentInvocationId`. A refused or failed inner call is an Error in the program
 * with the message the model would have read. On 2026-07-28 an inner call asking for input makes this call's result
 * `input_required`; the retry runs the program again from the start, replaying what was made (code-rounds.ts).
 * At most so many programs run at once on the edge and for one caller (code-slots.ts): past either, the call is
 * refused before anything runs (its requestState, if any, is not spent). The wall time counts from here.
 */
export async function runCode(
  deps: ToolCallDeps,
  call: ToolCall,
  limits: SandboxLimits = deps.codeLimits ?? DEFAULT_SANDBOX_LIMITS,
): Promise<ToolResultPayload> {
  const arrivedAt = Date.now();
  const slots = deps.codePrograms ?? defaultSlots;
  const slot = slots.take(programCaller(call.principal, call.source?.ip));
  if ('refused' in slot)
    return refuse({ deps, call, invocationId: randomUUID() }, tooManyPrograms(slots, slot.refused)).refused;
  try {
    const code = String(call.arguments.code);
    const sealing = confirmSealing(deps);
    const bound = {
      program: programDigest(call.loaded.catalog.serverId, code),
      caller: principalBinding(call.principal),
    };
    const replay = await replayOf(call.codeRounds?.requestState, sealing, bound);
    if (typeof replay === 'string') return errorResult(replay);
    const parentInvocationId = replay.invocationId;
    // Inner calls start from the sandbox thread's messages: bound here, their spans are children of this call's.
    const calls: ProgramCall[] = [];
    const inner = bindActiveContext(innerCalls(deps, call, { parentInvocationId, replay, calls }));
    const r = await runInSandbox(code, limits, inner, { arrivedAt, signal: call.signal });
    // Calls the program started before it stopped end first: what they did is in the next round's state.
    await replay.settled();
    deps.log.debug({ parentInvocationId, ok: r.ok, asked: !!replay.asking }, 'run_code finished');
    if (replay.asking && sealing) return await askingResult(replay, sealing, bound);
    const result = programResult(r, limits, parentInvocationId);
    const error = r.ok ? (result.isError ? textOf(result) : undefined) : r.error;
    const startedAt = new Date(arrivedAt);
    recordProgram(deps, edgeRecordBase(call, parentInvocationId, startedAt), error);
    const failed = error !== undefined;
    deps.audit?.add(programEvent(callEvents(call, call.name), { invocationId: parentInvocationId, calls, failed }));
    return result;
  } finally {
    slot.release();
  }
}

/** The `run_code` call refused because a bound on running programs has no room: retryable, recorded. */
function tooManyPrograms(slots: ProgramSlots, refused: ProgramsRefusal): Rejection {
  const { perEdge, perCaller } = slots.bounds;
  const message =
    refused === 'caller'
      ? `Too many programs: you already have ${perCaller} running, the most one caller may run at once.`
      : `Too many programs: ${perEdge} are running here, the most this gateway instance runs at once.`;
  const text = `${message} This one was not run, nothing was sent: retry in a moment.`;
  const result: ToolResultPayload = {
    ...errorResult(text),
    _meta: { 'toolplane/programs': { refused, limit: refused === 'caller' ? perCaller : perEdge, retryable: true } },
  };
  return { errorCode: 'code.too_many_programs', message, result };
}

/** The rounds a program made before (2026-07-28: the state its retry carries), or why that state is refused. */
async function replayOf(
  raw: unknown,
  sealing: ReturnType<typeof confirmSealing>,
  bound: { program: string; caller: string },
): Promise<ProgramReplay | string> {
  if (!isCodeState(raw)) return new ProgramReplay();
  const opened = sealing ? await openCodeState(sealing, raw, bound) : { refused: 'invalid' as const };
  if (!('refused' in opened)) return opened.replay;
  return (
    `The requestState sent with this run_code call is not valid here (${stateRefusals[opened.refused]}): the ` +
    'program was not run, nothing was sent. Run it again without requestState.'
  );
}

/** The `input_required` result of a program whose inner call asks for input; a tool error when the state is too large. */
async function askingResult(
  replay: ProgramReplay,
  sealing: NonNullable<ReturnType<typeof confirmSealing>>,
  bound: { program: string; caller: string },
): Promise<ToolResultPayload> {
  const result = await replay.result(sealing, bound);
  if (result) return result;
  const tool = replay.asking!.tool;
  return errorResult(
    `${tool} needs input from the client, and the results of this program's ${replay.madeCount} earlier inner calls ` +
      `are over the ${REPLAY_MAX_CHARS} characters carried while the client is asked. Those calls were made; ` +
      `nothing of ${tool} was sent. Call ${tool} directly, or make the program keep less of what it reads before it.`,
  );
}

/** A program's end as the `run_code` result: its value and console output, or why it failed. */
function programResult(r: SandboxResult, limits: SandboxLimits, invocationId: string): ToolResultPayload {
  const output = r.output + (r.truncated ? `\n[output truncated at ${limits.outputBytes} bytes]` : '');
  if (!r.ok) return errorResult(`${r.error}${output ? `\nConsole output:\n${output}` : ''}`);
  if (r.json.length > limits.resultChars)
    return errorResult(
      `The program's result is ${r.json.length} characters of JSON, over ${limits.resultChars}: return less.`,
    );
  const value = JSON.parse(r.json) as unknown;
  const structuredContent = { result: value, ...(output ? { console: output } : {}), invocationId };
  return { content: [{ type: 'text', text: JSON.stringify(structuredContent) }], structuredContent };
}

/**
 * The program's own execution record, under the invocation id it returns: the parent its inner calls' records name.
 * No step and no cost (its inner calls have theirs); a failed program is a `tool_error` with its error, never its
 * console output.
 */
function recordProgram(deps: ToolCallDeps, base: ReturnType<typeof edgeRecordBase>, error: string | undefined): void {
  const durationMs = Date.now() - Date.parse(base.startedAt);
  const failed = error !== undefined;
  deps.records.add({
    ...base,
    durationMs,
    outcome: failed ? 'tool_error' : 'success',
    ...(failed ? { errorCode: 'code.program_failed', message: error.slice(0, RECORD_MESSAGE_MAX) } : {}),
    steps: [],
    ...currentTraceIds(),
  });
  recordToolCall(base.serverId, base.tool, failed ? 'tool_error' : 'success', durationMs);
}
