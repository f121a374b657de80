import { stepRefusal, stepShadowRefusals, type ShadowRefusal } from '@toolplane/access';
import type { ToolInvokeJob, ToolStepPlan, WorkspaceAccess } from '@toolplane/contracts';

/** Reads a workspace's published access policies (absent: the document is missing from Redis). */
export type WorkspaceAccessReader = (workspaceId: string) => Promise<WorkspaceAccess | undefined>;

/**
 * Why a workflow step calling a hosted server's tool may not run for this call's caller (ADR 0045), or undefined:
 * decided as the edge decides a plain call of that tool (the key's servers, the policies' grants), a grant under a
 * condition evaluated on the step's resolved arguments. Fails closed: a job without its caller (`stepCaller`) or a
 * workspace whose policies cannot be read refuses the step. Steps of connectors' operations and of external servers
 * registered alone belong to no server that policies name: nothing to decide.
 */
export async function stepAccessRefusal(
  read: WorkspaceAccessReader | undefined,
  job: Pick<ToolInvokeJob, 'principal' | 'stepCaller'>,
  step: ToolStepPlan,
  args: Readonly<Record<string, unknown>>,
): Promise<string | undefined> {
  const decided = await stepAccess(read, job, step, args);
  return 'refused' in decided ? decided.refused : undefined;
}

/**
 * The step's access decision: refused (why), or it may run, with the would-be refusals of the caller's log-only
 * policies on its arguments (for the audit trail, as the edge records a plain call's).
 */
export async function stepAccess(
  read: WorkspaceAccessReader | undefined,
  job: Pick<ToolInvokeJob, 'principal' | 'stepCaller'>,
  step: ToolStepPlan,
  args: Readonly<Record<string, unknown>>,
): Promise<{ refused: string } | { shadow: ShadowRefusal[] }> {
  if (step.serverId === undefined) return { shadow: [] };
  if (!job.stepCaller)
    return {
      refused: `the call does not say who calls, so the step's tool "${step.name}" cannot be decided for its caller`,
    };
  const access = read ? await read(job.principal.workspaceId) : undefined;
  if (!access)
    return { refused: `the workspace's access policies could not be read to decide the step's tool "${step.name}"` };
  const tool = {
    def: {
      name: step.name,
      inputSchema: (step.inputSchema ?? { type: 'object' }) as ToolStepPlan['inputSchema'] & { type: 'object' },
      ...(step.annotations ? { annotations: step.annotations } : {}),
    },
  };
  const stepTool = { serverId: step.serverId, serverName: step.serverName ?? step.serverId, tool };
  const refused = stepRefusal(access, job.stepCaller, stepTool, args);
  if (refused !== undefined) return { refused };
  return { shadow: stepShadowRefusals(access, job.stepCaller, stepTool, args) };
}
