import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { NotFoundError } from '@toolplane/errors';
import type { Router } from 'express';
import { instanceTools } from '../catalog/compile.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { apiRouter } from '../http/route-access.ts';
import { isUuid } from './ids.ts';
import { findServer } from './servers.ts';

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
      return { kind: 'external_mcp_server' as const, server: t.plan.server, url: t.plan.url, remoteTool: t.plan.remoteTool };
    case 'http':
      return {
        kind: 'connector_instance' as const,
        ...(source.instanceId ? { instanceId: source.instanceId } : {}),
        instance: source.instance,
        connector: source.connector,
      };
  }
}

/** One tool as the API lists it: its MCP definition and its source (never its plan: URLs, secret names). */
function present(t: CatalogTool) {
  return { ...t.tool, source: sourceOf(t) };
}

export function serverToolsRouter(db: Db): Router {
  const r = apiRouter();

  // The live catalog version's tools (SMART: the searchable catalog behind the meta tools).
  r.get('/mcp_manager/:id/tools', async (req, res) => {
    const row = await findServer(db, caller(req).workspaceId, req.params.id);
    const version = await db.catalogVersion.findUnique({
      where: { serverId_version: { serverId: row.id, version: row.catalogVersion } },
    });
    const live = version?.catalog as Catalog | undefined;
    res.json({
      serverId: row.id,
      mode: row.mode,
      catalogVersion: row.catalogVersion,
      data: (live?.tools ?? []).map(present),
      ...(live?.warnings ? { warnings: live.warnings } : {}),
    });
  });

  // All the instance's tools, as a NORMAL server bound to it without a selection would expose them.
  r.get('/connector_instances/:id/tools', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = isUuid(req.params.id)
      ? await db.connectorInstance.findFirst({ where: { id: req.params.id, workspaceId }, include: { connector: true } })
      : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
    res.json({
      instanceId: row.id,
      connector: row.connector.slug,
      data: instanceTools(workspaceId, row).map(present),
    });
  });

  return r;
}
