import { createHash } from 'node:crypto';
import { ValidationError } from '@toolplane/errors';
import {
  compileWorkflowDocument,
  hasUnboundCredentials,
  type WorkflowDocumentIR,
  type WorkflowTool,
} from '@toolplane/workflow';
import type { ServerRow } from '../../catalog/compile.ts';
import type { Db } from '../../db/client.ts';
import {
  presentSources,
  type ResolvedSources,
  type StoredReference,
  toolSourcesOf,
} from '../../documents/workflow-sources.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { Reply } from '../operation.ts';

/** What a deployment compiles: the document, every source document as used, base URL overrides, bound instances. */
export interface DeploymentInput {
  definition: string;
  references: StoredReference[];
  servers: Record<string, string>;
}

/** One deployment to make: of `input` on `server`, its sources as resolved (connectors bound, problems found). */
export interface Deployment {
  workspaceId: string;
  server: ServerRow;
  input: DeploymentInput;
  resolved: Pick<ResolvedSources, 'connectors' | 'issues'>;
}

type Compiled = ReturnType<typeof compileWorkflowDocument>;

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

export function compile(input: DeploymentInput, connectors: ResolvedSources['connectors']): Compiled {
  return compileWorkflowDocument(input.definition, {
    references: input.references.map((r) => ({ location: r.location, content: r.content })),
    servers: input.servers,
    connectors,
    toolSources: toolSourcesOf(input.references),
  });
}

/** Bump's 422: `{message, errors}` (and what `extra` adds), as JSON, not a problem. */
export function unprocessable(
  message: string,
  errors: { path: string; message: string }[],
  extra: Record<string, unknown> = {},
): Reply {
  return new Reply(422, { message, errors, ...extra });
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

/** A deployment as the API shows it. */
export function presentDeployment(d: DeploymentRow) {
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

/**
 * Stores the deployment, compiles it and activates it (the previous active one superseded, the
 * server's new catalog version) in one change: 201 with the deployment; 204 when the same input is already active,
 * 422 when it does not compile (the errored deployment stays, with its problems).
 */
export async function deploy(
  { db, catalog }: Pick<ControlPlaneDeps, 'db' | 'catalog'>,
  deployment: Deployment,
): Promise<Reply> {
  const { workspaceId, server, input } = deployment;
  const digest = digestOf(input);
  if (await alreadyActive(db, server.id, digest)) return new Reply(204);

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
  const compiled = await compileOrRecord(db, row.id, deployment);
  if (compiled instanceof Reply) return compiled;
  await activate({ db, catalog }, row.id, server.id, compiled);
  return new Reply(201, {
    id: row.id,
    mcp_server_id: server.id,
    state: 'active',
    tools: compiled.tools.map((t) => t.name),
    warnings: compiled.warnings,
    sources: presentSources(input.references),
  });
}

/** True when the server's active deployment is of the same input (and compiled as the workers accept it). */
async function alreadyActive(db: Db, serverId: string, digest: string): Promise<boolean> {
  const active = await db.workflowDeployment.findFirst({
    where: { serverId, state: 'active' },
    orderBy: { activatedAt: 'desc' },
  });
  // Compiled before connector credentials were bound to their instance's origin: the workers refuse
  // those, so the same input is compiled again rather than found unchanged.
  const stale = active?.ir ? hasUnboundCredentials(active.ir as unknown as WorkflowDocumentIR) : false;
  return active?.digest === digest && !stale;
}

/**
 * The deployment compiled; when it does not compile (or a source could not be resolved), the row `id` is `errored`
 * with its problems and the answer is the 422.
 */
async function compileOrRecord(db: Db, id: string, { server, input, resolved }: Deployment): Promise<Compiled | Reply> {
  try {
    if (resolved.issues.length > 0)
      throw new ValidationError('a source description could not be resolved', resolved.issues);
    return compile(input, resolved.connectors);
  } catch (err) {
    const issues =
      err instanceof ValidationError ? err.issues : [{ path: '', message: 'the document could not be compiled' }];
    await db.workflowDeployment.update({
      where: { id },
      data: { state: 'errored', errors: issues as unknown as object[] },
    });
    if (!(err instanceof ValidationError)) throw err;
    return unprocessable(`Invalid definition file: ${err.message}`, issues, { id, mcp_server_id: server.id });
  }
}

/**
 * Activation, the superseded previous deployment and the server's new catalog version succeed or fail together;
 * when they fail, the deployment `id` is `errored`.
 */
async function activate(
  { db, catalog }: Pick<ControlPlaneDeps, 'db' | 'catalog'>,
  id: string,
  serverId: string,
  compiled: Compiled,
): Promise<void> {
  try {
    await catalog.change({ serverIds: [serverId] }, async (tx) => {
      await tx.workflowDeployment.updateMany({
        where: { serverId, state: 'active' },
        data: { state: 'superseded' },
      });
      await tx.workflowDeployment.update({
        where: { id },
        data: {
          state: 'active',
          format: compiled.ir.format,
          ir: compiled.ir as unknown as object,
          tools: compiled.tools as unknown as object[],
          warnings: compiled.warnings as unknown as object[],
          activatedAt: new Date(),
        },
      });
      return { result: id };
    });
  } catch (err) {
    await db.workflowDeployment.update({
      where: { id },
      data: { state: 'errored', errors: [{ path: '', message: 'the deployment could not be activated' }] },
    });
    throw err;
  }
}
