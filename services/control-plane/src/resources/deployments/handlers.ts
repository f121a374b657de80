import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import type { compileWorkflowDocument } from '@toolplane/workflow';
import { NothingToChange } from '../../catalog/service.ts';
import { resolveWorkflowTools } from '../../catalog/workflow-tools.ts';
import { dryRunRolledBack } from '../../db/audited-db.ts';
import { isUuid } from '../../db/ids.ts';
import {
  connectorsOf,
  presentSources,
  resolveWorkflowSources,
  type StoredReference,
} from '../../documents/workflow-sources.ts';
import { requestIssues } from '../../http/error-handler.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { findServer } from '../servers/lookup.ts';
import { compile, deploy, presentDeployment, unprocessable, type DeploymentInput } from './deploy.ts';
import { DeployBody, type DeployQuery } from './schemas.ts';

/**
 * `POST /mcp_servers/{id}/deploy`: deploys a workflow document (`{definition, references?, servers?}`), its Arazzo
 * sources not uploaded fetched by URL or taken from a connector; `?dry_run=true` compiles and validates only. Every
 * route here finds its server by id or by name (Bump accepts an id or a slug: ours are UUIDs or the server's name).
 * The body is checked here, after the server is found: a request that is not a deployment request is Bump's 422
 * (`{ message, errors }`, what Bump's CLI reads), not a problem (operations.ts, `bodyCheckedByHandler`).
 */
export async function deployWorkflow(
  deps: ControlPlaneDeps,
  { caller: { workspaceId, serverIds }, params, query, body: raw }: Input<unknown, DeployQuery>,
) {
  const { db, tasks } = deps;
  const server = await findServer(db, workspaceId, params.id!);
  const parsed = DeployBody.safeParse(raw ?? {});
  if (!parsed.success) return unprocessable('Invalid MCP server deployment request', requestIssues(parsed.error));
  const body = parsed.data;
  const resolved = await resolveWorkflowSources({ db, tasks }, workspaceId, body.definition, body.references);
  await resolveWorkflowTools(db, { workspaceId, serverIds }, body.definition, resolved);
  const input: DeploymentInput = {
    definition: body.definition,
    references: resolved.references,
    servers: body.servers,
  };
  if (query.dry_run === 'true') {
    let checked: ReturnType<typeof compileWorkflowDocument>;
    try {
      if (resolved.issues.length > 0)
        throw new ValidationError('a source description could not be resolved', resolved.issues);
      checked = compile(input, resolved.connectors);
    } catch (err) {
      if (!(err instanceof ValidationError)) throw err;
      return unprocessable(`Invalid definition file: ${err.message}`, err.issues, { mcp_server_id: server.id });
    }
    dryRunRolledBack(); // read only: nothing was written
    return {
      mcp_server_id: server.id,
      state: 'validated',
      format: checked.ir.format,
      tools: checked.tools.map((t) => t.name),
      warnings: checked.warnings,
      sources: presentSources(input.references),
    };
  }
  return deploy(deps, { workspaceId, server, input, resolved });
}

/**
 * `POST /mcp_servers/{id}/deployments/{deploymentId}/redeploy`: a deployment again, from what it stored (documents
 * fetched or taken from a connector then): nothing is fetched. A connector-bound source needs its instance still in
 * the workspace (its credentials are read at call time).
 */
export async function redeployDeployment(
  deps: ControlPlaneDeps,
  { caller: { workspaceId, serverIds }, params }: Input,
) {
  const { db } = deps;
  const server = await findServer(db, workspaceId, params.id!);
  const deploymentId = params.deploymentId!;
  const row = isUuid(deploymentId)
    ? await db.workflowDeployment.findFirst({ where: { id: deploymentId, serverId: server.id } })
    : null;
  if (!row) throw new NotFoundError('deployment', deploymentId);
  const references = (row.references ?? []) as unknown as StoredReference[];
  const bound = references.filter((ref) => ref.origin === 'connector' && ref.connector);
  const present = new Set(
    (
      await db.connectorInstance.findMany({
        where: { workspaceId, id: { in: bound.map((ref) => ref.connector!.instanceId) } },
        select: { id: true },
      })
    ).map((i) => i.id),
  );
  const issues = bound
    .filter((ref) => !present.has(ref.connector!.instanceId))
    .map((ref) => ({
      path: '/references',
      message:
        `connector instance "${ref.connector!.instanceName}" (${ref.connector!.instanceId}) ` +
        `of source "${ref.source ?? ref.location}" no longer exists`,
    }));
  issues.push(...unreadableStepServers(references, serverIds));
  return deploy(deps, {
    workspaceId,
    server,
    input: { definition: row.definition, references, servers: (row.servers ?? {}) as Record<string, string> },
    resolved: { connectors: connectorsOf(references), issues },
  });
}

/**
 * A key limited to servers brings back only deployments whose steps call its own servers' tools (ADR 0045): another
 * server is not found, as at deployment.
 */
function unreadableStepServers(references: StoredReference[], serverIds: readonly string[] | undefined) {
  if (!serverIds) return [];
  const steps = references.flatMap((ref) => (ref.origin === 'tools' ? Object.values(ref.tools ?? {}) : []));
  const others = new Set(
    steps.flatMap((s) =>
      s.serverId !== undefined && !serverIds.includes(s.serverId) ? [s.serverName ?? s.serverId] : [],
    ),
  );
  return [...others].map((name) => ({ path: '/references', message: `no MCP server "${name}" in this workspace` }));
}

/**
 * `POST /mcp_servers/{id}/deployments/{deploymentId}/withdraw`: the active deployment's tools leave the server (a new
 * catalog version), and it stays in the history as `withdrawn` (redeploy brings it back). Already withdrawn: nothing
 * changes; any other state: 409.
 */
export async function withdrawDeployment({ db, catalog }: ControlPlaneDeps, { caller, params }: Input): Promise<void> {
  const server = await findServer(db, caller.workspaceId, params.id!);
  const deploymentId = params.deploymentId!;
  const row = isUuid(deploymentId)
    ? await db.workflowDeployment.findFirst({
        where: { id: deploymentId, serverId: server.id },
        select: { id: true },
      })
    : null;
  if (!row) throw new NotFoundError('deployment', deploymentId);
  await catalog.change({ serverIds: [server.id] }, async (tx) => {
    // Only while active (a deployment activated meanwhile supersedes it first: then it is not withdrawn).
    const { count } = await tx.workflowDeployment.updateMany({
      where: { id: row.id, state: 'active' },
      data: { state: 'withdrawn' },
    });
    if (count === 0) {
      const { state } = await tx.workflowDeployment.findUniqueOrThrow({ where: { id: row.id } });
      if (state === 'withdrawn') throw new NothingToChange();
      throw new UserError(
        'resource.conflict',
        `deployment ${row.id} is ${state}: only the active deployment's tools are on the server`,
        { status: 409 },
      );
    }
    return { result: row.id };
  });
}

/** `GET /mcp_servers/{id}/deployments`: the server's deployments, newest first (at most 100). */
export async function listDeployments({ db }: ControlPlaneDeps, { caller, params }: Input) {
  const server = await findServer(db, caller.workspaceId, params.id!);
  const rows = await db.workflowDeployment.findMany({
    where: { serverId: server.id },
    orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
    take: 100,
  });
  return { data: rows.map(presentDeployment) };
}

/** `GET /mcp_servers/{id}/deployments/{deploymentId}`: a deployment with its document. */
export async function getDeployment({ db }: ControlPlaneDeps, { caller, params }: Input) {
  const server = await findServer(db, caller.workspaceId, params.id!);
  const deploymentId = params.deploymentId!;
  const row = isUuid(deploymentId)
    ? await db.workflowDeployment.findFirst({ where: { id: deploymentId, serverId: server.id } })
    : null;
  if (!row) throw new NotFoundError('deployment', deploymentId);
  return { ...presentDeployment(row), definition: row.definition };
}
