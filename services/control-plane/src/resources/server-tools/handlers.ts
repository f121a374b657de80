import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import { instanceTools } from '../../catalog/compile.ts';
import { isUuid } from '../../db/ids.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { findServer } from '../servers/lookup.ts';
import { confirmSuggested } from './confirm-suggestion.ts';

/**
 * The tools of a server as it exposes them, and the tools a connector instance gives: each with its definition
 * (input and output schemas, annotations) and where it comes from. Read from what the catalog compiler made (the
 * server's live catalog version; the instance's tools compiled as a server bound to it compiles them), never
 * derived again from a connector's document.
 */

/** Where one tool of a catalog comes from, from its execution plan and its `source`. */
function sourceOf(t: CatalogTool) {
  const source = t.source ?? { connector: '', instance: '' };
  switch (t.plan.kind) {
    case 'workflow':
      return {
        kind: 'workflow' as const,
        deploymentId: t.plan.deploymentId,
        workflowId: t.plan.workflowId,
        document: source.connector.replace(/^workflow:/, ''),
      };
    case 'mcp':
      return {
        kind: 'external_mcp_server' as const,
        server: t.plan.server,
        url: t.plan.url,
        remoteTool: t.plan.remoteTool,
      };
    case 'http':
      return {
        kind: 'connector_instance' as const,
        ...(source.instanceId ? { instanceId: source.instanceId } : {}),
        instance: source.instance,
        connector: source.connector,
      };
  }
}

/**
 * One tool as the API lists it: its MCP definition, its source (never its plan: URLs, secret names), whether a person
 * confirms each call (`confirm`: the server's `confirmTools`) and whether that is suggested for it, what one call
 * costs against cost quotas and its data-flow labels with where each came from (ADR 0078; neither in `tools/list`).
 */
function present(t: CatalogTool) {
  return {
    ...t.tool,
    source: sourceOf(t),
    confirm: t.confirm === true,
    confirmSuggested: confirmSuggested(t),
    cost: t.cost ?? 1,
    labels: t.labels ?? [],
  };
}

/** `GET /mcp_manager/{id}/tools`: the live catalog version's tools (SMART: the searchable catalog behind the meta tools). */
export async function listServerTools({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await findServer(db, caller.workspaceId, params.id!);
  const version = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: row.id, version: row.catalogVersion } },
  });
  const live = version?.catalog as Catalog | undefined;
  return {
    serverId: row.id,
    mode: row.mode,
    catalogVersion: row.catalogVersion,
    data: (live?.tools ?? []).map(present),
    ...(live?.warnings ? { warnings: live.warnings } : {}),
  };
}

/** `GET /connector_instances/{id}/tools`: all the instance's tools, as a NORMAL server bound to it without a selection would expose them. */
export async function listInstanceTools({ db }: ControlPlaneDeps, { params, caller: { workspaceId } }: Input) {
  const id = params.id!;
  const row = isUuid(id)
    ? await db.connectorInstance.findFirst({ where: { id, workspaceId }, include: { connector: true } })
    : null;
  if (!row) throw new NotFoundError('connector instance', id);
  return { instanceId: row.id, connector: row.connector.slug, data: instanceTools(workspaceId, row).map(present) };
}
