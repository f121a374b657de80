import { humanName } from '@toolplane/contracts';
import type { ExternalUser } from '../../generated/prisma/client.ts';
import { publishWorkspaceAccess } from '../access-policies/publish.ts';
import { endPersonConnections, endPersonRequests } from '../external-users/ending.ts';
import { changePerson, createPerson, deletePerson } from '../external-users/people.ts';
import { listResponse, scimById, scimEvent, type ScimContext } from './context.ts';
import { invalidValue, ScimError } from './errors.ts';
import { parseFilter } from './filter.ts';
import { applyPatch } from './patch.ts';
import {
  canonical,
  checkSchemas,
  enterpriseSchema,
  filterable,
  scimMeta,
  storedUserAttributes,
  userAttributes,
  userSchema,
  userSchemas,
} from './schema.ts';

const withGroups = { groups: { select: { group: { select: { id: true, displayName: true } } } } } as const;
type UserRow = ExternalUser & { groups: { group: { id: string; displayName: string } }[] };

/** A person as SCIM shows them (RFC 7643 §4.1): `userName` is the external user's name (`x-username`). */
function scimUser(ctx: ScimContext, row: UserRow) {
  return {
    schemas: userSchemas((row.scim ?? {}) as Record<string, unknown>),
    id: row.id,
    ...(row.externalId !== null ? { externalId: row.externalId } : {}),
    userName: row.name,
    ...((row.scim ?? {}) as Record<string, unknown>),
    active: row.active,
    groups: row.groups.map(({ group }) => ({
      value: group.id,
      display: group.displayName,
      $ref: `${ctx.base}/Groups/${group.id}`,
    })),
    meta: scimMeta(ctx.base, 'User', row),
  };
}

function userById(ctx: ScimContext, id: string): Promise<UserRow> {
  const where = { id, workspaceId: ctx.workspaceId };
  return scimById('User', id, () => ctx.deps.db.externalUser.findFirst({ where, include: withGroups }));
}

interface UserInput {
  userName: string;
  externalId: string | null;
  active: boolean;
  scim: Record<string, unknown>;
}

/** `active` as identity providers send it: a boolean, or (some PATCH bodies) "true"/"false" in any case. */
function activeOf(value: unknown): boolean {
  if (value === undefined) return true;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string' && /^(true|false)$/i.test(value)) return value.toLowerCase() === 'true';
  throw invalidValue('"active" must be a boolean');
}

/** A User body (POST, PUT, or what a PATCH leaves), checked: unknown attributes and bad values are `invalidValue`. */
function userInput(body: unknown): UserInput {
  const attrs = canonical(body, userAttributes, 'User');
  checkSchemas(attrs.schemas, [userSchema, enterpriseSchema]);
  const userName = humanName(200).safeParse(attrs.userName);
  if (!userName.success) throw invalidValue('"userName" is required: 1-200 characters, no control characters');
  const externalId = attrs.externalId ?? null;
  if (externalId !== null && (typeof externalId !== 'string' || externalId.length > 512))
    throw invalidValue('"externalId" must be a string (at most 512 characters)');
  const scim = storedUserAttributes(attrs);
  if (JSON.stringify(scim).length > 32_768) throw invalidValue('the User’s attributes exceed 32 KiB');
  return { userName: userName.data, externalId, active: activeOf(attrs.active), scim };
}

/** `userName` is unique in the workspace, ignoring case (RFC 7643: `uniqueness: server`, `caseExact: false`). */
function nameTaken(userName: string): ScimError {
  return new ScimError(409, `a User with userName "${userName}" exists already`, 'uniqueness');
}

/** `GET /Users`: filtered (RFC 7644 §3.4.2.2) and paged; `userName eq` and `externalId eq` narrow the lookup. */
export async function listUsers(ctx: ScimContext, query: Record<string, unknown>) {
  const filter =
    typeof query.filter === 'string' ? parseFilter(query.filter, filterable('User'), userSchema) : undefined;
  const userName = filter?.equals('userName');
  const externalId = filter?.equals('externalId');
  const rows = await ctx.deps.db.externalUser.findMany({
    where: {
      workspaceId: ctx.workspaceId,
      ...(typeof userName === 'string' ? { name: { equals: userName, mode: 'insensitive' as const } } : {}),
      ...(typeof externalId === 'string' ? { externalId } : {}),
    },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
    include: withGroups,
  });
  return listResponse(
    rows.map((r) => scimUser(ctx, r)).filter((u) => !filter || filter.matches(u)),
    query,
  );
}

export async function getUser(ctx: ScimContext, id: string) {
  return scimUser(ctx, await userById(ctx, id));
}

/** `POST /Users`: a new external user (409 `uniqueness` for a userName taken), published for the edge when active. */
export async function createUser(ctx: ScimContext, body: unknown) {
  const input = userInput(body);
  const { externalId, active, scim } = input;
  const person = { workspaceId: ctx.workspaceId, name: input.userName, externalId, active, scim };
  const created = await createPerson(ctx.deps, person, () => nameTaken(input.userName));
  const row = { ...created, groups: [] };
  await scimEvent(ctx, 'scim.user.create', { type: 'external_user', id: row.id }, eventDetails(row));
  return scimUser(ctx, row);
}

function eventDetails(row: { name: string; externalId: string | null; active: boolean }) {
  return { userName: row.name, externalId: row.externalId, active: row.active };
}

/**
 * A person changed as `input` says. What the edge knows follows (the name → id hash: a renamed person under the new
 * name, an inactive one not at all, so their calls stop); a deactivation ends their connections (revoked at the
 * provider) and their waiting approval requests; the access policies are published again when a group of theirs
 * changes membership in effect.
 */
async function applyUser(ctx: ScimContext, row: UserRow, input: UserInput) {
  const { userName: name, externalId, active, scim } = input;
  const change = { name, externalId, active, scim };
  const { updated: person, ...changed } = await changePerson(ctx.deps, row, change, () => nameTaken(name));
  // Memberships do not change with the person.
  const updated = { ...person, groups: row.groups };
  if (changed.deactivated) {
    await endPersonConnections(ctx.deps, updated);
    await endPersonRequests(ctx.deps, { ...updated, name: row.name }, ctx.source);
  }
  if ((changed.renamed || row.active !== updated.active) && updated.groups.length > 0)
    await publishWorkspaceAccess(ctx.deps.db, ctx.deps.publisher, ctx.workspaceId);
  const action = changed.deactivated ? 'deactivate' : changed.reactivated ? 'reactivate' : 'update';
  await scimEvent(ctx, `scim.user.${action}`, { type: 'external_user', id: row.id }, eventDetails(updated));
  return scimUser(ctx, updated);
}

/** `PUT /Users/{id}`: the person replaced by the body (what it leaves out is removed). */
export async function replaceUser(ctx: ScimContext, id: string, body: unknown) {
  const row = await userById(ctx, id);
  return applyUser(ctx, row, userInput(body));
}

/** `PATCH /Users/{id}` (RFC 7644 §3.5.2): add, replace and remove operations, `active: false` included. */
export async function patchUser(ctx: ScimContext, id: string, body: unknown) {
  const row = await userById(ctx, id);
  const { groups: _groups, ...current } = scimUser(ctx, row);
  return applyUser(ctx, row, userInput(applyPatch(current, body, userAttributes)));
}

/**
 * `DELETE /Users/{id}`: the person's connections end (revoked at the provider), their waiting approval requests
 * expire, then the person, their memberships and what the edge knows of them go.
 */
export async function deleteUser(ctx: ScimContext, id: string): Promise<void> {
  const row = await userById(ctx, id);
  await endPersonConnections(ctx.deps, row);
  await endPersonRequests(ctx.deps, row, ctx.source);
  await deletePerson(ctx.deps, row);
  if (row.groups.length > 0) await publishWorkspaceAccess(ctx.deps.db, ctx.deps.publisher, ctx.workspaceId);
  await scimEvent(ctx, 'scim.user.delete', { type: 'external_user', id: row.id }, eventDetails(row));
}
