import { createHash } from 'node:crypto';
import { HttpUrl } from '@toolplane/contracts';
import { NotFoundError, UserError, ValidationError } from '@toolplane/errors';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import {
  compileWorkflowDocument,
  hasUnboundCredentials,
  type WorkflowDocumentIR,
  type WorkflowTool,
} from '@toolplane/workflow';
import { type Response, type Router } from 'express';
import { z } from 'zod';
import type { ServerRow } from '../catalog/compile.ts';
import { NothingToChange, type CatalogService } from '../catalog/service.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { requestIssues } from '../http/error-handler.ts';
import { jsonBody } from '../http/body.ts';
import { isUuid } from './ids.ts';
import { findServer as findServerIn } from './servers.ts';
import {
  connectorsOf,
  presentSources,
  resolveWorkflowSources,
  type ResolvedSources,
  type StoredReference,
} from './workflow-sources.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * Workflow deployments, Bump-compatible: `POST /api/v1/mcp_servers/{id}/deploy` with
 * `{definition, references?}` → 201 `{id, mcp_server_id}`, 204 when the same document is already
 * active, 422 `{message, errors}`. A deployment is `deploying`, then `active` (the previous active one
 * becomes `superseded`) or `errored`. The server's catalog always carries the tools of its latest
 * active deployment (`withWorkflowTools`, called by `compileCatalog`). Arazzo source descriptions not
 * uploaded are fetched by URL or taken from a connector (workflow-sources.ts) and stored with the
 * deployment; `POST …/deployments/{deploymentId}/redeploy` activates a deployment again from what it
 * stored, fetching nothing (a rollback, when it is an earlier one), and `…/withdraw` takes the active
 * deployment's tools off the server (it becomes `withdrawn`).
 */

export const DeployBody = z
  .object({
    /** The workflow document, YAML or JSON text (Bump: `definition`). */
    definition: z.string().min(1, 'the workflow document is empty'),
    /** Documents the Arazzo source descriptions resolve to (Bump's CLI sends `{ location, content }`). */
    references: z
      .array(
        z
          .object({ location: z.string().min(1), content: z.union([z.string(), z.record(z.string(), z.unknown())]) })
          .strict(),
      )
      .max(50)
      .default([]),
    /** Base URL per Arazzo source description name (replaces the servers of its OpenAPI document). */
    servers: z.record(z.string(), HttpUrl).default({}),
  })
  .strict();

/** `?dry_run=true`: compile and validate only; nothing is stored and the server does not change. */
export const DeployQuery = z.object({
  dry_run: z
    .enum(['true', 'false'])
    .optional()
    .describe('`true`: validate and compile the document, answer with the tools it would create; nothing changes.'),
});

/** What a deployment compiles: the document, every source document as used, base URL overrides, bound instances. */
interface DeploymentInput {
  definition: string;
  references: StoredReference[];
  servers: Record<string, string>;
}

/**
 * The same input twice is the same deployment (204). Fetched and connector documents count by their
 * content, so a source that changed upstream makes a new deployment and an unchanged one does not.
 */
function digestOf(input: DeploymentInput): string {
  // Uploaded documents as before (a deployment's digest does not change with this code).
  const refs = input.references.map((r) =>
    r.origin
      ? { origin: r.origin, location: r.location, sha256: r.sha256, instance: r.connector?.instanceId }
      : { location: r.location, content: r.content },
  );
  return createHash('sha256')
    .update(JSON.stringify([input.definition, refs, Object.entries(input.servers).sort()]))
    .digest('hex');
}

function compile(input: DeploymentInput, connectors: ResolvedSources['connectors']) {
  return compileWorkflowDocument(input.definition, {
    references: input.references.map((r) => ({ location: r.location, content: r.content })),
    servers: input.servers,
    connectors,
  });
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
  references: unknown;
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
    sources: presentSources((d.references ?? []) as StoredReference[]),
  };
}

export function deploymentsRouter(
  db: Db,
  catalog: CatalogService,
  tasks: DataPlaneTaskClient,
  maxBodyBytes: number,
): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));

  /** Bump accepts an id or a slug: ours are UUIDs or the server's name. */
  const findServer = (workspaceId: string, idOrName: string) => findServerIn(db, workspaceId, idOrName);

  /**
   * Stores the deployment, compiles it and activates it (the previous active one superseded, the
   * server's new catalog version) in one change; 204 when the same input is already active, 422 when
   * it does not compile (the errored deployment stays, with its problems).
   */
  async function deploy(
    res: Response,
    workspaceId: string,
    server: ServerRow,
    input: DeploymentInput,
    resolved: Pick<ResolvedSources, 'connectors' | 'issues'>,
  ): Promise<void> {
    const digest = digestOf(input);
    const active = await db.workflowDeployment.findFirst({
      where: { serverId: server.id, state: 'active' },
      orderBy: { activatedAt: 'desc' },
    });
    // Compiled before connector credentials were bound to their instance's origin (issue #47): the workers refuse
    // those, so the same input is compiled again rather than found unchanged.
    const stale = active?.ir ? hasUnboundCredentials(active.ir as unknown as WorkflowDocumentIR) : false;
    if (active?.digest === digest && !stale) return void res.status(204).end();

    const row = await db.workflowDeployment.create({
      data: {
        workspaceId,
        serverId: server.id,
        state: 'deploying',
        digest,
        definition: input.definition,
        references: input.references as unknown as object[],
        servers: input.servers,
      },
    });
    let compiled: ReturnType<typeof compileWorkflowDocument>;
    try {
      if (resolved.issues.length > 0)
        throw new ValidationError('a source description could not be resolved', resolved.issues);
      compiled = compile(input, resolved.connectors);
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
      await catalog.change({ serverIds: [server.id] }, async (tx) => {
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
        return { result: row.id };
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
      sources: presentSources(input.references),
    });
  }

  r.post('/:id/deploy', async (req, res) => {
    const { workspaceId } = caller(req);
    const server = await findServer(workspaceId, req.params.id);
    const parsed = DeployBody.safeParse(req.body ?? {});
    if (!parsed.success) {
      return void unprocessable(res, 'Invalid MCP server deployment request', requestIssues(parsed.error));
    }
    const body = parsed.data;
    const query = DeployQuery.safeParse(req.query);
    if (!query.success) {
      return void unprocessable(res, 'Invalid MCP server deployment request', requestIssues(query.error));
    }
    const resolved = await resolveWorkflowSources({ db, tasks }, workspaceId, body.definition, body.references);
    const input: DeploymentInput = {
      definition: body.definition,
      references: resolved.references,
      servers: body.servers,
    };
    if (query.data.dry_run === 'true') {
      let checked: ReturnType<typeof compileWorkflowDocument>;
      try {
        if (resolved.issues.length > 0)
          throw new ValidationError('a source description could not be resolved', resolved.issues);
        checked = compile(input, resolved.connectors);
      } catch (err) {
        if (!(err instanceof ValidationError)) throw err;
        return void unprocessable(res, `Invalid definition file: ${err.message}`, err.issues, {
          mcp_server_id: server.id,
        });
      }
      return void res.status(200).json({
        mcp_server_id: server.id,
        state: 'validated',
        format: checked.ir.format,
        tools: checked.tools.map((t) => t.name),
        warnings: checked.warnings,
        sources: presentSources(input.references),
      });
    }
    await deploy(res, workspaceId, server, input, resolved);
  });

  // A deployment again, from what it stored (documents fetched or taken from a connector then): nothing
  // is fetched. A connector-bound source needs its instance still in the workspace (its credentials are
  // read at call time).
  r.post('/:id/deployments/:deploymentId/redeploy', async (req, res) => {
    const { workspaceId } = caller(req);
    const server = await findServer(workspaceId, req.params.id);
    const row = isUuid(req.params.deploymentId)
      ? await db.workflowDeployment.findFirst({ where: { id: req.params.deploymentId, serverId: server.id } })
      : null;
    if (!row) throw new NotFoundError('deployment', req.params.deploymentId);
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
    await deploy(
      res,
      workspaceId,
      server,
      { definition: row.definition, references, servers: (row.servers ?? {}) as Record<string, string> },
      { connectors: connectorsOf(references), issues },
    );
  });

  // Withdraws a deployment: the active one's tools leave the server (a new catalog version), and it stays in the
  // history as `withdrawn` (redeploy brings it back). Already withdrawn: nothing changes; any other state: 409.
  r.post('/:id/deployments/:deploymentId/withdraw', async (req, res) => {
    const server = await findServer(caller(req).workspaceId, req.params.id);
    const row = isUuid(req.params.deploymentId)
      ? await db.workflowDeployment.findFirst({
          where: { id: req.params.deploymentId, serverId: server.id },
          select: { id: true },
        })
      : null;
    if (!row) throw new NotFoundError('deployment', req.params.deploymentId);
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
    res.status(204).end();
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
