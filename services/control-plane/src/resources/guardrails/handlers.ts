import type { GuardrailDetector, GuardrailTarget } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import type { Guardrail as GuardrailRow } from '../../generated/prisma/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { exposedTools } from '../quotas/handlers.ts';
import type { CreateGuardrailBody, UpdateGuardrailBody } from './schemas.ts';
import { given, workspaceRows } from '../rows.ts';

function present(row: GuardrailRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    serverId: row.serverId,
    tools: row.tools,
    detectors: row.detectors as GuardrailDetector[],
    action: row.action as 'redact' | 'block' | 'flag',
    enforce: row.enforce,
    maxBytes: row.maxBytes,
    on: row.on as GuardrailTarget[],
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const guardrailRows = workspaceRows((db) => db.guardrail, { what: 'guardrail', one: 'a guardrail' }, present);
const byId = guardrailRows.byId;

/** A guardrail's scope and name as they will be: what is checked before it is written. */
interface Scope {
  name: string;
  serverId: string | null;
  tools: string[];
}

/** Every problem of the scope (an unknown server, tools it does not expose, tools without a server; 422), a name in use (409). */
async function refuseInvalid(db: Db, workspaceId: string, g: Scope, except?: string): Promise<void> {
  const problems: ProblemIssue[] = [];
  if (g.serverId !== null) {
    const server = isUuid(g.serverId)
      ? await db.mcpServer.findFirst({ where: { id: g.serverId, workspaceId }, select: { id: true } })
      : null;
    if (!server) problems.push({ path: '/serverId', message: `no MCP server "${g.serverId}" in this workspace` });
    else if (g.tools.length > 0) {
      const exposed = await exposedTools(db, workspaceId, [g.serverId]);
      g.tools.forEach((t, i) => {
        if (!exposed.has(t)) problems.push({ path: `/tools/${i}`, message: `the server exposes no tool "${t}"` });
      });
    }
  } else if (g.tools.length > 0)
    problems.push({ path: '/tools', message: 'tools are named with the server that exposes them (serverId)' });
  await guardrailRows.refuseTakenName(db, workspaceId, g.name, except);
  if (problems.length > 0) throw new ValidationError('the guardrail is invalid', problems);
}

/** The servers whose catalogs carry guardrails of these scopes (null: every server of the workspace). */
async function serversOf(db: Db, workspaceId: string, scopes: (string | null)[]): Promise<string[]> {
  if (scopes.includes(null)) {
    const rows = await db.mcpServer.findMany({ where: { workspaceId }, select: { id: true } });
    return rows.map((r) => r.id);
  }
  return [...new Set(scopes as string[])];
}

/**
 * `POST /guardrails`: a guardrail, published to the workers in a new catalog version of every server it applies to
 * (the workspace's: all of them).
 */
export async function createGuardrail({ db, catalog }: ControlPlaneDeps, { body, caller }: Input<CreateGuardrailBody>) {
  const { workspaceId } = caller;
  const scope = { name: body.name, serverId: body.serverId ?? null, tools: body.tools ?? [] };
  await refuseInvalid(db, workspaceId, scope);
  const serverIds = await serversOf(db, workspaceId, [scope.serverId]);
  const { result } = await catalog.change({ serverIds }, async (tx) => ({
    result: await tx.guardrail.create({
      data: {
        workspaceId,
        ...scope,
        description: body.description ?? null,
        detectors: body.detectors,
        action: body.action,
        enforce: body.enforce ?? true,
        maxBytes: body.maxBytes ?? null,
        on: body.on ?? ['results'],
      },
    }),
  }));
  return present(result);
}

/** `GET /guardrails`: the workspace's guardrails, oldest first (the order the worker applies them in). */
export const listGuardrails = guardrailRows.list;

/** `GET /guardrails/{id}`. */
export const getGuardrail = guardrailRows.get;

/** `PATCH /guardrails/{id}`: the fields given replace the guardrail's; the servers it left and joined are republished. */
export async function updateGuardrail(
  { db, catalog }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateGuardrailBody>,
) {
  const { workspaceId } = caller;
  const row = await byId(db, workspaceId, params.id!);
  const serverId = body.serverId !== undefined ? body.serverId : row.serverId;
  // A guardrail moved to another server (or to the workspace) leaves the tools it named behind, unless given again.
  const tools = body.tools ?? (serverId === row.serverId ? row.tools : []);
  const scope = { name: body.name ?? row.name, serverId, tools };
  await refuseInvalid(db, workspaceId, scope, row.id);
  const serverIds = await serversOf(db, workspaceId, [row.serverId, serverId]);
  const { result } = await catalog.change({ serverIds }, async (tx) => ({
    result: await tx.guardrail.update({
      where: { id: row.id },
      data: {
        ...scope,
        ...given(body, 'description', 'detectors', 'action', 'enforce', 'maxBytes', 'on'),
      },
    }),
  }));
  return present(result);
}

/** `DELETE /guardrails/{id}`: the servers it applied to get a catalog version without it. */
export async function deleteGuardrail({ db, catalog }: ControlPlaneDeps, { params, caller }: Input): Promise<void> {
  const row = await byId(db, caller.workspaceId, params.id!);
  const serverIds = await serversOf(db, caller.workspaceId, [row.serverId]);
  await catalog.change({ serverIds }, async (tx) => {
    await tx.guardrail.delete({ where: { id: row.id } });
    return { result: undefined };
  });
}
