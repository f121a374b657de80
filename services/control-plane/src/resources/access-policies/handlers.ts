import { Prisma } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { publishWorkspaceAccess } from './publish.ts';
import { policyApproval } from './approval.ts';
import { PolicyBody, UpdatePolicyBody } from './schemas.ts';
import { validate, type PolicyState } from './validation.ts';
import { given, workspaceRows } from '../rows.ts';

type PolicyRow = PolicyState & {
  id: string;
  workspaceId: string;
  name: string;
  description: string | null;
  principals: unknown;
  createdAt: Date;
  updatedAt: Date;
};

function present(row: PolicyRow) {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    principals: row.principals,
    servers: row.servers,
    tools: row.tools,
    condition: row.condition,
    onFalse: row.onFalse,
    approval: policyApproval(row),
    enforce: row.enforce,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * The columns of what a false condition does, as far as the body changes them: `refuse` drops the approval rule
 * (validation refused a rule sent with it).
 */
function outcomeData(body: Partial<Pick<PolicyBody, 'onFalse' | 'approval'>>) {
  return {
    ...(body.onFalse !== undefined ? { onFalse: body.onFalse } : {}),
    ...(body.onFalse === 'refuse'
      ? { approval: Prisma.DbNull }
      : body.approval !== undefined
        ? { approval: body.approval ?? Prisma.DbNull }
        : {}),
  };
}

/** The policy `id` of the workspace, else 404. */
const policyRows = workspaceRows((db) => db.accessPolicy, { what: 'access policy', one: 'a policy' }, present);
const { byId, refuseTakenName } = policyRows;

/**
 * `POST /access_policies`: a policy, published to every edge with the workspace's others. The body comes as sent:
 * `validate` lists its field problems with its unknown references in one 422.
 */
export async function createAccessPolicy(
  { db, publisher }: ControlPlaneDeps,
  { body: raw, caller: { workspaceId } }: Input<unknown>,
) {
  const body = await validate(db, { workspaceId, schema: PolicyBody, raw, what: 'access policy' });
  await refuseTakenName(db, workspaceId, body.name);
  const row = await db.accessPolicy.create({
    data: {
      workspaceId,
      name: body.name,
      description: body.description ?? null,
      principals: body.principals,
      servers: body.servers,
      tools: body.tools,
      condition: body.condition ?? null,
      ...outcomeData(body),
      enforce: body.enforce ?? true,
    },
  });
  await publishWorkspaceAccess(db, publisher, workspaceId);
  return present(row);
}

/** `GET /access_policies`: the workspace's policies, oldest first. */
export const listAccessPolicies = policyRows.list;

/** `GET /access_policies/{id}`. */
export const getAccessPolicy = policyRows.get;

/**
 * `PATCH /access_policies/{id}`: the fields given change; the workspace's policies are published again. An unknown
 * policy is a 404 whatever the body; the body is validated as on create.
 */
export async function updateAccessPolicy(
  { db, publisher }: ControlPlaneDeps,
  { body: raw, params, caller }: Input<unknown>,
) {
  const row = await byId(db, caller.workspaceId, params.id!);
  const body = await validate(db, {
    workspaceId: row.workspaceId,
    schema: UpdatePolicyBody,
    raw,
    what: 'access policy update',
    current: row,
  });
  if (body.name !== undefined) await refuseTakenName(db, row.workspaceId, body.name, row.id);
  const updated = await db.accessPolicy.update({
    where: { id: row.id },
    data: {
      ...given(body, 'name', 'description', 'principals', 'servers', 'tools', 'condition'),
      ...outcomeData(body),
      ...(body.enforce !== undefined ? { enforce: body.enforce } : {}),
    },
  });
  await publishWorkspaceAccess(db, publisher, row.workspaceId);
  return present(updated);
}

/** `DELETE /access_policies/{id}`: the workspace's remaining policies are published again. */
export async function deleteAccessPolicy(
  { db, publisher }: ControlPlaneDeps,
  { params, caller }: Input,
): Promise<void> {
  const row = await byId(db, caller.workspaceId, params.id!);
  await db.accessPolicy.delete({ where: { id: row.id } });
  await publishWorkspaceAccess(db, publisher, row.workspaceId);
}
