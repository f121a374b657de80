import { delegationStepRefusal } from '@toolplane/access';
import type { ToolInvokeJob, ToolStepPlan } from '@toolplane/contracts';
import type { DelegationCalls } from '@toolplane/queue';

/**
 * A workflow called with a narrowed token (ADR 0084, addendum): each step on a hosted server's tool meets the token's
 * rights as a direct call of that tool with the token would at the edge: its servers and tools, the conditions of its
 * chain on the step's arguments as they will be sent, its expiry, and its chain's limits on calls, charged in the same
 * Redis counters as the edge's `delegation` stage (`DelegationCalls` in @toolplane/queue). The job carries the rights
 * (`rules.delegation`), never the token.
 */

const nothing = () => Promise.resolve();

/**
 * The token's judgement of one step: refused (why; nothing charged), or allowed with what gives its charge back (the
 * step refused by a later check). A job without `rules.delegation` is no narrowed token's: nothing to do.
 */
export async function stepDelegation(
  counter: Pick<DelegationCalls, 'charge' | 'refund'> | undefined,
  job: Pick<ToolInvokeJob, 'rules' | 'stepCaller'>,
  step: ToolStepPlan,
  args: Readonly<Record<string, unknown>>,
): Promise<{ refused: string } | { refund: () => Promise<void> }> {
  const narrowing = job.rules?.delegation;
  if (!narrowing || step.serverId === undefined) return { refund: nothing };
  if (narrowing.exp * 1000 <= Date.now()) return { refused: `the narrowed token ${narrowing.tokenId} has expired` };
  const refused = delegationStepRefusal(narrowing, {
    caller: job.stepCaller?.condition ?? {},
    tool: {
      name: step.name,
      server_id: step.serverId,
      server_name: step.serverName ?? step.serverId,
      ...(step.annotations ? { annotations: step.annotations as Record<string, unknown> } : {}),
    },
    args,
  });
  if (refused !== undefined) return { refused };
  const { limits, exp } = narrowing;
  if (limits.length === 0) return { refund: nothing };
  if (!counter) return { refused: `the calls of the narrowed token ${narrowing.tokenId} cannot be counted` };
  if (!(await counter.charge(limits, exp)))
    return { refused: `the narrowed token ${narrowing.tokenId} has no calls left` };
  return { refund: () => counter.refund(limits) };
}
