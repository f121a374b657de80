import { stepRefusal } from '@toolplane/access';
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
  if (step.serverId === undefined) return undefined;
  if (!job.stepCaller)
    return `the call does not say who calls, so the step's tool "${step.name}" cannot be decided for its caller`;
  const access = read ? await read(job.principal.workspaceId) : undefined;
  if (!access) return `the workspace's access policies could not be read to decide the step's tool "${step.name}"`;
  const tool = {
    def: {
      name: step.name,
      inputSchema: (step.inputSchema ?? { type: 'object' }) as ToolStepPlan['inputSchema'] & { type: 'object' },
      ...(step.annotations ? { annotations: step.annotations } : {}),
    },
  };
  return stepRefusal(
    access,
    job.stepCaller,
    { serverId: step.serverId, serverName: step.serverName ?? step.serverId, tool },
    args,
  );
}
