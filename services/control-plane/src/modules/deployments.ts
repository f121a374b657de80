import { createHash } from 'node:crypto';
import type { Catalog, CatalogTool, WorkflowPlan } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { SecretsWriter } from '@toolplane/secrets';
import {
  compileWorkflowDocument,
  type WorkflowDocumentIR,
  type WorkflowIR,
  type WorkflowTool,
} from '@toolplane/workflow';
import { type Response, Router } from 'express';
import { z } from 'zod';
import type { Db, Tx } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { isUuid } from './ids.ts';
import { compileCatalog, externalListerFor, type ServerRow } from './servers.ts';

/**
 * Workflow deployments (issue #4), Bump-compatible: `POST /api/v1/mcp_servers/{id}/deploy` with
 * `{definition, references?}` → 201 `{id, mcp_server_id}`, 204 when the same document is already
 * active, 422 `{message, errors}`. A deployment is `deploying`, then `active` (the previous active one
 * becomes `superseded`) or `errored`. The server's catalog always carries the tools of its latest
 * active deployment (`withWorkflowTools`, called by `compileCatalog`).
 */

const DeployBody = z.object({
  /** The workflow document, YAML or JSON text (Bump: `definition`). */
  definition: z.string().min(1, 'the workflow document is empty'),
  /** Documents the Arazzo source descriptions resolve to. */
  references: z
    .array(z.object({ location: z.string().min(1), content: z.union([z.string(), z.record(z.string(), z.unknown())]) }))
    .max(50)
    .default([]),
  /** Base URL per Arazzo source description name (replaces the servers of its OpenAPI document). */
  servers: z
    .record(
      z.string(),
      z
        .string()
        .url()
        .refine((u) => /^https?:/i.test(u), 'must be an http(s) URL'),
    )
    .default({}),
});

/** Where `$secrets.NAME` of a server's workflows lives in the secrets store. */
export function serverSecretName(workspaceId: string, serverId: string, name: string): string {
  return `ws/${workspaceId}/servers/${serverId}/secrets/${name}`;
}

/** The workflows one may run: itself, its dependencies, workflow steps, goto / retry targets. */
function reachable(ir: WorkflowDocumentIR, workflowId: string): WorkflowIR[] {
  const byId = new Map(ir.workflows.map((w) => [w.id, w]));
  const seen = new Set<string>();
  const visit = (id: string): void => {
    const w = byId.get(id);
    if (!w || seen.has(id)) return;
    seen.add(id);
    w.dependsOn.forEach(visit);
    for (const s of w.steps) {
      if (s.target.kind === 'workflow') visit(s.target.workflowId);
      for (const a of [...s.onSuccess, ...s.onFailure]) if (a.workflowId) visit(a.workflowId);
    }
  };
  visit(workflowId);
  return ir.workflows.filter((w) => seen.has(w.id));
}

/** `$current_user.token` anywhere in the workflows a tool may run (a conservative textual check). */
const readsCallerToken = (workflows: WorkflowIR[]): boolean =>
  /\$current_user\.token\b/.test(JSON.stringify(workflows));

/**
 * The server's opt-in to hand the caller's OAuth access token to its workflows (`$current_user.token`,
 * issue #7): `config.exposeCallerToken: true`. Off by default: the token is never forwarded upstream.
 */
function exposesCallerToken(serverConfig: unknown): boolean {
  return (
    typeof serverConfig === 'object' &&
    serverConfig !== null &&
    (serverConfig as { exposeCallerToken?: unknown }).exposeCallerToken === true
  );
}

/** Adds the tools of the server's active workflow deployment to a catalog (names already taken get `__workflow`). */
export async function withWorkflowTools(tx: Tx, catalog: Catalog, serverConfig?: unknown): Promise<Catalog> {
  const deployment = await tx.workflowDeployment.findFirst({
    where: { serverId: catalog.serverId, state: 'active' },
    orderBy: { activatedAt: 'desc' },
  });
  if (!deployment?.ir) return catalog;
  const ir = deployment.ir as unknown as WorkflowDocumentIR;
  const taken = new Set(catalog.tools.map((t) => t.tool.name));
  const tools: CatalogTool[] = [...catalog.tools];
  for (const t of deployment.tools as unknown as WorkflowTool[]) {
    const wf = ir.workflows.find((w) => w.id === t.workflowId);
    if (!wf) continue;
    let name = t.name;
    if (taken.has(name)) name = `${name}__workflow`.slice(0, 128);
    taken.add(name);
    const workflows = reachable(ir, wf.id);
    const plan: WorkflowPlan = {
      kind: 'workflow',
      deploymentId: deployment.id,
      workflowId: wf.id,
      ir: { ...ir, workflows } as unknown as Record<string, unknown>,
      secretNames: Object.fromEntries(
        wf.secrets.map((n) => [n, serverSecretName(catalog.workspaceId, catalog.serverId, n)]),
      ),
      // The edge carries the caller's token in the job only for these tools.
      ...(exposesCallerToken(serverConfig) && readsCallerToken(workflows) ? { callerToken: true } : {}),
    };
    tools.push({
      tool: {
        name,
        description: t.description,
        ...(t.title ? { title: t.title } : {}),
        inputSchema: t.inputSchema,
        outputSchema: t.outputSchema,
      },
      plan,
      source: { connector: `workflow:${ir.id}`, instance: deployment.id },
    });
  }
  return { ...catalog, tools };
}

function digestOf(body: z.infer<typeof DeployBody>): string {
  return createHash('sha256')
    .update(JSON.stringify([body.definition, body.references, Object.entries(body.servers).sort()]))
    .digest('hex');
}

function unprocessable(
  res: Response,
  message: string,
  errors: { path: string; message: string }[],
  extra: Record<string, unknown> = {},
): void {
  res.status(422).json({ message, errors, ...extra });
}

interface DeploymentRow {
  id: string;
  serverId: string;
  state: string;
  format: string | null;
  tools: unknown;
  warnings: unknown;
  errors: unknown;
  createdAt: Date;
  activatedAt: Date | null;
}

function present(d: DeploymentRow) {
  return {
    id: d.id,
    mcp_server_id: d.serverId,
    state: d.state,
    format: d.format,
    tools: (d.tools as WorkflowTool[]).map((t) => t.name),
    warnings: d.warnings,
    errors: d.errors,
    created_at: d.createdAt,
    activated_at: d.activatedAt,
  };
}

export function deploymentsRouter(
  db: Db,
  publisher: RuntimePublisher,
  secrets: SecretsWriter,
  tasks: DataPlaneTaskClient,
  maxBodyBytes: number,
): Router {
  const listExternal = externalListerFor(tasks);
  const r = Router();
  r.use(jsonBody(maxBodyBytes));

  /** Bump accepts an id or a slug: ours are UUIDs or the server's name. */
  async function findServer(workspaceId: string, idOrName: string): Promise<ServerRow> {
    const row = (await db.mcpServer.findFirst({
      where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
    })) as ServerRow | null;
    if (!row) throw new NotFoundError('MCP server', idOrName);
    return row;
  }

  r.post('/:id/deploy', async (req, res) => {
    const { workspaceId } = caller(req);
    const server = await findServer(workspaceId, req.params.id);
    const parsed = DeployBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return void unprocessable(
        res,
        'Invalid MCP server deployment request',
        parsed.error.issues.map((i) => ({ path: `/${i.path.map(String).join('/')}`, message: i.message })),
      );
    }
    const body = parsed.data;
    const digest = digestOf(body);
    const active = await db.workflowDeployment.findFirst({
      where: { serverId: server.id, state: 'active' },
      orderBy: { activatedAt: 'desc' },
    });
    if (active?.digest === digest) return void res.status(204).end();

    const row = await db.workflowDeployment.create({
      data: {
        workspaceId,
        serverId: server.id,
        state: 'deploying',
        digest,
        definition: body.definition,
        references: body.references as object[],
        servers: body.servers,
      },
    });
    let compiled: ReturnType<typeof compileWorkflowDocument>;
    try {
      compiled = compileWorkflowDocument(body.definition, { references: body.references, servers: body.servers });
    } catch (err) {
      const issues =
        err instanceof ValidationError ? err.issues : [{ path: '', message: 'the document could not be compiled' }];
      await db.workflowDeployment.update({
        where: { id: row.id },
        data: { state: 'errored', errors: issues as unknown as object[] },
      });
      if (!(err instanceof ValidationError)) throw err;
      return void unprocessable(res, `Invalid definition file: ${err.message}`, issues, {
        id: row.id,
        mcp_server_id: server.id,
      });
    }

    // Activation, the superseded previous deployment and the server's new catalog version succeed or fail together.
    try {
      await db.$transaction(async (tx) => {
        await tx.workflowDeployment.updateMany({
          where: { serverId: server.id, state: 'active' },
          data: { state: 'superseded' },
        });
        await tx.workflowDeployment.update({
          where: { id: row.id },
          data: {
            state: 'active',
            format: compiled.ir.format,
            ir: compiled.ir as unknown as object,
            tools: compiled.tools as unknown as object[],
            warnings: compiled.warnings as unknown as object[],
            activatedAt: new Date(),
          },
        });
        const current = (await tx.mcpServer.findUnique({ where: { id: server.id } })) as ServerRow;
        const version = current.catalogVersion + 1;
        const catalog = await compileCatalog(tx, current, version, listExternal, { lenientSelection: true });
        await tx.catalogVersion.create({ data: { serverId: current.id, version, catalog: catalog as object } });
        await tx.mcpServer.update({ where: { id: current.id }, data: { catalogVersion: version } });
        await publisher.publishCatalog(catalog);
      });
    } catch (err) {
      await db.workflowDeployment.update({
        where: { id: row.id },
        data: { state: 'errored', errors: [{ path: '', message: 'the deployment could not be activated' }] },
      });
      throw err;
    }
    res.status(201).json({
      id: row.id,
      mcp_server_id: server.id,
      state: 'active',
      tools: compiled.tools.map((t) => t.name),
      warnings: compiled.warnings,
    });
  });

  r.get('/:id/deployments', async (req, res) => {
    const server = await findServer(caller(req).workspaceId, req.params.id);
    const rows = await db.workflowDeployment.findMany({
      where: { serverId: server.id },
      orderBy: [{ createdAt: 'desc' }, { id: 'asc' }],
      take: 100,
    });
    res.json({ data: rows.map(present) });
  });

  r.get('/:id/deployments/:deploymentId', async (req, res) => {
    const server = await findServer(caller(req).workspaceId, req.params.id);
    const row = isUuid(req.params.deploymentId)
      ? await db.workflowDeployment.findFirst({ where: { id: req.params.deploymentId, serverId: server.id } })
      : null;
    if (!row) throw new NotFoundError('deployment', req.params.deploymentId);
    res.json({ ...present(row), definition: row.definition });
  });

  return r;
}
