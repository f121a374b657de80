import { randomUUID } from 'node:crypto';
import type { ResultLabel, ToolOutcome } from '@toolplane/contracts';
import type { ToolCall, ToolCallDeps } from '../calls/call-types.ts';
import type { LoadedTool } from '../state/catalogs.ts';
import { enqueueJob } from './enqueue.ts';
import { callStages } from './order.ts';
import { finishAll, settleAll, type CallState, type ReadRequest, type Settle, type Stage } from './stage.ts';

/** Which stages a call meets (default: a tool's, `planOf`) and, for a read of an attached server, its request. */
export interface CallPlan {
  readonly stages?: readonly Stage[];
  readonly read?: ReadRequest;
}

/**
 * Runs a call of `tool` through the pipeline: its stages in order (`order.ts`), the first refusal or answer ending it,
 * then its job. Every path that calls a tool comes here: `tools/call`, SMART `execute_tool`, tasks, the inner calls
 * of a `run_code` program; and reads of attached servers' resources, prompts and completions (`readStages`, with
 * `readTool`). A workflow's steps ask the worker's copy of the same rules (step-checks.ts).
 */
export async function runCall(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  plan: CallPlan = {},
): Promise<ToolOutcome> {
  const invocationId = call.task?.invocationId ?? call.invocationId ?? randomUUID();
  const rules = tool.rules.cost !== undefined ? { cost: tool.rules.cost } : {};
  const s: CallState = { deps, call, tool, invocationId, rules, read: plan.read };
  const settles: Settle[] = [];
  for (const stage of plan.stages ?? planOf(tool)) {
    let verdict = stage.run(s);
    if (verdict instanceof Promise) verdict = await verdict;
    if (!verdict) continue;
    if ('settle' in verdict) settles.push(verdict.settle);
    else if ('refused' in verdict) {
      if (settles.length > 0) await settleAll(settles, { added: false });
      return verdict.refused;
    } else {
      await settleAll(settles, { added: undefined, outcome: verdict.answered });
      return finishAll(settles, verdict.answered);
    }
  }
  return (s.terminal ?? enqueueJob)(s, settles);
}

/** What a read of an attached server is called as in the pipeline: a tool named by what it reads, taking no arguments. */
export function readTool(name: string, brings?: readonly ResultLabel[]): LoadedTool {
  // What the read brings into the caller's session (its server's classification, ADR 0078): the session stage hands
  // the worker the session, which it labels before the answer leaves.
  const rules = brings?.length
    ? { labels: { results: brings.map((label) => ({ label, source: 'classification' as const })), outbound: [] } }
    : {};
  return { def: { name, inputSchema: { type: 'object' } }, validate: () => true, rules } as unknown as LoadedTool;
}

const plans = new WeakMap<LoadedTool, readonly Stage[]>();

/**
 * The stages calls of `tool` meet, worked out once per catalog version (a loaded tool belongs to one): a tool with no
 * rules of its own meets only the stages that look at the caller, each a test or two.
 */
function planOf(tool: LoadedTool): readonly Stage[] {
  let plan = plans.get(tool);
  if (!plan) plans.set(tool, (plan = callStages.filter((stage) => stage.appliesTo(tool))));
  return plan;
}
