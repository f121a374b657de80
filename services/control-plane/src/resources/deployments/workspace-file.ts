import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import { idOf, markerOnly, run, type LiveResource, type WorkspaceFileKind } from '../workspace-files/kind.ts';
import { deploymentsOperations } from './operations.ts';

const DeploymentSpec = z.strictObject({
  /** The MCP server it is deployed to, by name. */
  server: z.string().min(1),
  /** The Flower or Arazzo document, as deployed. */
  definition: z.string().min(1),
  references: z
    .array(
      z.strictObject({
        location: z.string().min(1),
        content: z.union([z.string(), z.record(z.string(), z.unknown())]),
      }),
    )
    .default([]),
  servers: z.record(z.string(), HttpUrl).default({}),
});

/**
 * Workflow deployments (`deployments/<server>.yaml`): a server's active deployment, named by its server. Deleting one
 * withdraws it: its server stays with the files.
 */
export const deploymentFiles: WorkspaceFileKind = {
  kind: 'workflow_deployment',
  dir: 'deployments',
  schema: DeploymentSpec,
  refers: (s) => [{ kind: 'server', name: String(s.server), path: '/server', what: 'MCP server' }],
  async live({ deps, workspaceId, marker, names }) {
    const serverNames = names('server');
    const rows = await deps.db.workflowDeployment.findMany({
      where: { workspaceId, state: 'active' },
      orderBy: { createdAt: 'asc' },
    });
    return rows.flatMap((r): LiveResource[] => {
      const server = serverNames.get(r.serverId);
      if (!server) return [];
      const spec = { server, definition: r.definition, references: r.references, servers: r.servers };
      return [
        { kind: 'workflow_deployment', name: server, id: r.id, spec, marker: marker('workflow_deployment', server) },
      ];
    });
  },
  write(c, ctx) {
    if (markerOnly(c)) return undefined;
    const s = c.desired!.spec;
    return run(deploymentsOperations, 'deployWorkflow', {
      params: { id: idOf(ctx, 'server', String(s.server)) },
      body: { definition: s.definition, references: s.references, servers: s.servers },
    });
  },
  remove: (c, ctx) =>
    run(deploymentsOperations, 'withdrawDeployment', {
      params: { id: idOf(ctx, 'server', c.name), deploymentId: c.live!.id },
    }),
};
