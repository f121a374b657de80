import { humanName } from '@toolplane/contracts';
import type { ScimGroup } from '../../generated/prisma/client.ts';
import { isUuid } from '../../db/ids.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import { listResponse, scimById, scimEvent, type ScimContext } from './context.ts';
import { invalidValue, ScimError } from './errors.ts';
import { parseFilter } from './filter.ts';
import { applyPatch } from './patch.ts';
import { canonical, checkSchemas, filterable, groupAttributes, groupSchema, scimMeta } from './schema.ts';

const withMembers = { members: { select: { user: { select: { id: true, name: true } } } } } as const;
type GroupRow = ScimGroup & { members: { user: { id: string; name: string } }[] };

/** A group as SCIM shows it (RFC 7643 §4.2); `excluded`: `members` left out when asked (`excludedAttributes`). */
function scimGroup(ctx: ScimContext, row: GroupRow, excluded: ReadonlySet<string> = new Set()) {
  return {
    schemas: [groupSchema],
    id: row.id,
    ...(row.externalId !== null ? { externalId: row.externalId } : {}),
    displayName: row.displayName,
    ...(excluded.has('members')
      ? {}
      : {
          members: row.members.map(({ user }) => ({
            value: user.id,
            display: user.name,
            type: 'User',
            $ref: `${ctx.base}/Users/${user.id}`,
          })),
        }),
    meta: scimMeta(ctx.base, 'Group', row),
  };
}

function excludedOf(query: Record<string, unknown>): Set<string> {
  const raw = typeof query.excludedAttributes === 'string' ? query.excludedAttributes : '';
  return new Set(raw.split(',').map((a) => a.trim().toLowerCase()));
}

function groupById(ctx: ScimContext, id: string): Promise<GroupRow> {
  const where = { id, workspaceId: ctx.workspaceId };
  return scimById('Group', id, () => ctx.deps.db.scimGroup.findFirst({ where, include: withMembers }));
}

interface GroupInput {
  displayName: string;
  externalId: string | null;
  /** Member ids; undefined: the body named none (a PATCH of other attributes keeps them). */
  members: string[];
}

/** A Group body, checked: unknown attributes, a bad displayName and members that are no User here are `invalidValue`. */
async function groupInput(ctx: ScimContext, body: unknown): Promise<GroupInput> {
  const attrs = canonical(body, groupAttributes, 'Group');
  checkSchemas(attrs.schemas, [groupSchema]);
  const displayName = humanName(200).safeParse(attrs.displayName);
  if (!displayName.success) throw invalidValue('"displayName" is required: 1-200 characters, no control characters');
  const externalId = attrs.externalId ?? null;
  if (externalId !== null && (typeof externalId !== 'string' || externalId.length > 512))
    throw invalidValue('"externalId" must be a string (at most 512 characters)');
  const listed = attrs.members ?? [];
  if (!Array.isArray(listed)) throw invalidValue('"members" must be an array');
  const ids = [...new Set(listed.map((m) => (m as { value?: unknown } | null)?.value))];
  const valid = ids.filter((v): v is string => typeof v === 'string' && isUuid(v));
  const found = await ctx.deps.db.externalUser.findMany({
    where: { workspaceId: ctx.workspaceId, id: { in: valid } },
    select: { id: true },
  });
  if (found.length !== ids.length) {
    const known = new Set(found.map((u) => u.id));
    const unknown = ids.find((v) => typeof v !== 'string' || !known.has(v));
    throw invalidValue(`members: ${JSON.stringify(unknown)} is not the id of a User of this workspace`);
  }
  return { displayName: displayName.data, externalId, members: valid };
}

async function assertUniqueName(ctx: ScimContext, displayName: string, exceptId?: string): Promise<void> {
  const taken = await ctx.deps.db.scimGroup.findFirst({
    where: {
      workspaceId: ctx.workspaceId,
      displayName: { equals: displayName, mode: 'insensitive' },
      ...(exceptId ? { id: { not: exceptId } } : {}),
    },
    select: { id: true },
  });
  if (taken) throw new ScimError(409, `a Group with displayName "${displayName}" exists already`, 'uniqueness');
}

/** `GET /Groups`: filtered and paged as `/Users`; `displayName eq` narrows the lookup. */
export async function listGroups(ctx: ScimContext, query: Record<string, unknown>) {
  const filter =
    typeof query.filter === 'string' ? parseFilter(query.filter, filterable('Group'), groupSchema) : undefined;
  const displayName = filter?.equals('displayName');
  const rows = await ctx.deps.db.scimGroup.findMany({
    where: {
      workspaceId: ctx.workspaceId,
      ...(typeof displayName === 'string'
        ? { displayName: { equals: displayName, mode: 'insensitive' as const } }
        : {}),
    },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    include: withMembers,
  });
  const excluded = excludedOf(query);
  const all = rows.filter((r) => !filter || filter.matches(scimGroup(ctx, r)));
  return listResponse(all, query, (r) => scimGroup(ctx, r, excluded));
}

export async function getGroup(ctx: ScimContext, id: string, query: Record<string, unknown>) {
  return scimGroup(ctx, await groupById(ctx, id), excludedOf(query));
}

/** `POST /Groups`: a group with its members; the access policies naming it are published again. */
export async function createGroup(ctx: ScimContext, body: unknown) {
  const input = await groupInput(ctx, body);
  await assertUniqueName(ctx, input.displayName);
  const row = await ctx.deps.db.scimGroup.create({
    data: {
      workspaceId: ctx.workspaceId,
      displayName: input.displayName,
      externalId: input.externalId,
      members: { create: input.members.map((userId) => ({ userId })) },
    },
    include: withMembers,
  });
  await publishWorkspaceAccess(ctx.deps.db, ctx.deps.publisher, ctx.workspaceId);
  await scimEvent(
    ctx,
    'scim.group.create',
    { type: 'scim_group', id: row.id },
    {
      displayName: row.displayName,
      members: row.members.map((m) => m.user.name),
    },
  );
  return scimGroup(ctx, row);
}

/** The group changed as `input` says (members replaced as a whole), published for the edges, with its event. */
async function applyGroup(ctx: ScimContext, row: GroupRow, input: GroupInput) {
  const { db } = ctx.deps;
  if (input.displayName.toLowerCase() !== row.displayName.toLowerCase())
    await assertUniqueName(ctx, input.displayName, row.id);
  const before = new Map(row.members.map((m) => [m.user.id, m.user.name]));
  const updated = await db.$transaction(async (tx) => {
    await tx.scimGroupMember.deleteMany({ where: { groupId: row.id, userId: { notIn: input.members } } });
    await tx.scimGroupMember.createMany({
      data: input.members.map((userId) => ({ groupId: row.id, userId })),
      skipDuplicates: true,
    });
    return tx.scimGroup.update({
      where: { id: row.id },
      data: { displayName: input.displayName, externalId: input.externalId, updatedAt: new Date() },
      include: withMembers,
    });
  });
  await publishWorkspaceAccess(db, ctx.deps.publisher, ctx.workspaceId);
  const after = new Set(updated.members.map((m) => m.user.id));
  await scimEvent(
    ctx,
    'scim.group.update',
    { type: 'scim_group', id: row.id },
    {
      displayName: updated.displayName,
      ...(updated.displayName !== row.displayName ? { previousDisplayName: row.displayName } : {}),
      added: updated.members.filter((m) => !before.has(m.user.id)).map((m) => m.user.name),
      removed: [...before].filter(([id]) => !after.has(id)).map(([, name]) => name),
    },
  );
  return scimGroup(ctx, updated);
}

/** `PUT /Groups/{id}`. */
export async function replaceGroup(ctx: ScimContext, id: string, body: unknown) {
  const row = await groupById(ctx, id);
  return applyGroup(ctx, row, await groupInput(ctx, body));
}

/** `PATCH /Groups/{id}`: `members` added and removed (`members[value eq "…"]`), `displayName` replaced. */
export async function patchGroup(ctx: ScimContext, id: string, body: unknown) {
  const row = await groupById(ctx, id);
  const current = scimGroup(ctx, row);
  const patched = applyPatch(current, body, groupAttributes);
  return applyGroup(ctx, row, await groupInput(ctx, patched));
}

/** `DELETE /Groups/{id}`: the group and its memberships; policies naming it grant its former members nothing. */
export async function deleteGroup(ctx: ScimContext, id: string): Promise<void> {
  const row = await groupById(ctx, id);
  await ctx.deps.db.scimGroup.delete({ where: { id: row.id } });
  await publishWorkspaceAccess(ctx.deps.db, ctx.deps.publisher, ctx.workspaceId);
  await scimEvent(ctx, 'scim.group.delete', { type: 'scim_group', id: row.id }, { displayName: row.displayName });
}
