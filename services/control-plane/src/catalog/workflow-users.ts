import type { ToolStepPlan } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import { parseToolRef, toolSourcePattern } from '@toolplane/workflow';
import type { Db, Tx } from '../db/client.ts';
import type { StoredReference } from '../documents/workflow-sources.ts';

/**
 * What deployed workflows use (docs/adr/0045-workflow-steps-inherit-rules.md): a hosted server, an external MCP server
 * or a connector instance that an active deployment's steps call (their plans were compiled with its credentials and
 * headers) cannot be deleted while the deployment is active; the delete answers 409 naming the workflows. Deployments
 * of the server being deleted itself go with it.
 */
export interface UsedThing {
  kind: 'mcp_server' | 'external_mcp_server' | 'connector_instance';
  id: string;
  name: string;
}

const decode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

/** Whether `owner` (a name or an id, as a reference writes it) is the thing. */
const names = (owner: string, thing: UsedThing): boolean => owner === thing.id || owner === thing.name;

/** Whether one step's tool (its reference and compiled plan) uses the thing. */
function stepUses(ref: string, step: ToolStepPlan, thing: UsedThing): boolean {
  if (thing.kind === 'connector_instance') return step.instanceId === thing.id;
  if (thing.kind === 'mcp_server' && step.serverId !== undefined) return step.serverId === thing.id;
  if (thing.kind === 'external_mcp_server' && step.externalServerId !== undefined)
    return step.externalServerId === thing.id;
  // Deployed before plans named what they use: read the reference.
  const parsed = parseToolRef(ref);
  const kind = thing.kind === 'mcp_server' ? 'mcp_server' : 'external_mcp_server';
  return parsed?.kind === kind && names(parsed.owner, thing);
}

/** Whether one of a deployment's stored references uses the thing. */
function referenceUses(reference: StoredReference, thing: UsedThing): boolean {
  if (reference.origin === 'connector')
    return thing.kind === 'connector_instance' && reference.connector?.instanceId === thing.id;
  if (reference.origin !== 'tools') return false;
  if (Object.entries(reference.tools ?? {}).some(([ref, step]) => stepUses(ref, step, thing))) return true;
  const m = toolSourcePattern.exec(reference.location);
  const kind = thing.kind === 'mcp_server' ? 'mcp_servers' : 'external_mcp_servers';
  return m !== null && thing.kind !== 'connector_instance' && m[1] === kind && names(decode(m[2]!), thing);
}

/** The active deployments (other servers' only) whose steps use one of `things`: each as its server and tools. */
async function workflowsUsing(
  db: Db | Tx,
  workspaceId: string,
  things: readonly UsedThing[],
  exceptServerIds: readonly string[] = [],
): Promise<string[]> {
  if (things.length === 0) return [];
  const rows = await db.workflowDeployment.findMany({
    where: { workspaceId, state: 'active', serverId: { notIn: [...exceptServerIds] } },
    select: { references: true, tools: true, server: { select: { name: true } } },
  });
  return rows
    .filter((row) =>
      ((row.references ?? []) as unknown as StoredReference[]).some((r) => things.some((t) => referenceUses(r, t))),
    )
    .map((row) => {
      const tools = ((row.tools ?? []) as { name: string }[]).map((t) => t.name);
      return `${tools.map((n) => `"${n}"`).join(', ')} on MCP server "${row.server.name}"`;
    });
}

/** Refuses (409, naming them) the delete of what active workflow deployments call as steps. */
export async function refuseIfWorkflowsUse(
  db: Db | Tx,
  workspaceId: string,
  things: readonly UsedThing[],
  exceptServerIds: readonly string[] = [],
): Promise<void> {
  const users = await workflowsUsing(db, workspaceId, things, exceptServerIds);
  if (users.length === 0) return;
  const what = things.map((t) => `${t.kind.replaceAll('_', ' ').replace('mcp', 'MCP')} "${t.name}"`).join(', ');
  throw new UserError(
    'resource.conflict',
    `${what} is used by deployed workflows: ${users.join('; ')}. Deploy them without it (or withdraw the ` +
      'deployments) first',
    { status: 409, details: { workflows: users } },
  );
}
