import { randomUUID } from 'node:crypto';
import type { ToolOutcome } from '@toolplane/contracts';
import type { ToolCall, ToolCallDeps } from '../call-types.ts';
import type { LoadedTool } from '../catalogs.ts';
import { enqueueJob } from './enqueue.ts';
import { callStages } from './order.ts';
import { finishAll, settleAll, type CallState, type Settle, type Stage } from './stage.ts';

/**
 * Runs a call of `tool` through the pipeline: its stages in order (`order.ts`), the first refusal or answer ending it,
 * then its job. Every path that calls a tool comes here: `tools/call`, SMART `execute_tool`, tasks, the inner calls
 * of a `run_code` program; a workflow's steps ask the worker's copy of the same rules (step-checks.ts).
 */
export async function runCall(
  deps: ToolCallDeps,
  call: ToolCall,
  tool: LoadedTool,
  stages: readonly Stage[] = callStages,
): Promise<ToolOutcome> {
  const invocationId = call.task?.invocationId ?? call.invocationId ?? randomUUID();
  const s: CallState = { deps, call, tool, invocationId, rules: tool.cost !== undefined ? { cost: tool.cost } : {} };
  const settles: Settle[] = [];
  for (const stage of planOf(tool, stages)) {
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

const plans = new WeakMap<LoadedTool, readonly Stage[]>();

/**
 * The stages calls of `tool` meet, worked out once per catalog version (a loaded tool belongs to one): a tool with no
 * rules of its own meets only the stages that look at the caller, each a test or two.
 */
export function planOf(tool: LoadedTool, stages: readonly Stage[] = callStages): readonly Stage[] {
  if (stages !== callStages) return stages.filter((stage) => stage.appliesTo(tool));
  let plan = plans.get(tool);
  if (!plan) plans.set(tool, (plan = stages.filter((stage) => stage.appliesTo(tool))));
  return plan;
}
