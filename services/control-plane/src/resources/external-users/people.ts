import { redisKeys } from '@toolplane/contracts';
import type { ExternalUser, Prisma } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';

/**
 * People's rows (external users), one writer for the API (`/external_users`) and SCIM (`/scim/v2/Users`): the row and
 * what the edge knows of them (the name → id hash of active people, their attributes) change together. Names are
 * unique in a workspace ignoring case (SCIM's userName, RFC 7643 `caseExact: false`).
 */
type Deps = Pick<ControlPlaneDeps, 'db' | 'redis' | 'prefix'>;

/** Who holds `name` in the workspace, compared ignoring case (`exceptId`: not that person). */
function nameHolder({ db }: Deps, workspaceId: string, name: string, exceptId?: string) {
  return db.externalUser.findFirst({
    where: { workspaceId, name: { equals: name, mode: 'insensitive' }, ...(exceptId ? { id: { not: exceptId } } : {}) },
    select: { id: true, name: true, active: true },
  });
}

/** A new person's row. */
interface NewPerson {
  workspaceId: string;
  name: string;
  attributes?: object;
  externalId?: string | null;
  active?: boolean;
  scim?: object;
}

/** A new person, published for the edge (by name while active); `refuse` makes the error for a name taken. */
export async function createPerson(
  deps: Deps,
  person: NewPerson,
  refuse: (holder: { name: string; active: boolean }) => Error,
): Promise<ExternalUser> {
  const { db, redis, prefix } = deps;
  const keys = redisKeys(prefix);
  const holder = await nameHolder(deps, person.workspaceId, person.name);
  if (holder) throw refuse(holder);
  return db.$transaction(async (tx) => {
    const row = await tx.externalUser.create({ data: { ...person, attributes: person.attributes ?? {} } });
    if (row.active) await tx.formerUser.deleteMany({ where: { workspaceId: row.workspaceId, name: row.name } });
    await redis.hset(keys.userAttributes(row.workspaceId), row.id, JSON.stringify(row.attributes ?? {}));
    if (row.active) await redis.hset(keys.users(row.workspaceId), row.name, row.id);
    await gone(redis, keys, row);
    return row;
  });
}

/** A person's attributes replaced (what the edge hands to tools as `x-user` attributes follows). */
export async function setPersonAttributes(deps: Deps, person: ExternalUser, attributes: object): Promise<ExternalUser> {
  const updated = await deps.db.externalUser.update({ where: { id: person.id }, data: { attributes } });
  await deps.redis.hset(
    redisKeys(deps.prefix).userAttributes(person.workspaceId),
    person.id,
    JSON.stringify(attributes),
  );
  return updated;
}

/** What changed of a person: the name, the identity provider's id, active or not, the SCIM attributes. */
interface PersonChange {
  name: string;
  externalId: string | null;
  active: boolean;
  scim: object;
}

/**
 * A person changed; what the edge knows follows: a renamed person under the new name, an inactive one not at all, so
 * their calls stop. `refuse` makes the error for a new name taken. Answers the row and whether it was renamed,
 * deactivated or reactivated (the caller ends a deactivated person's connections and requests).
 */
export async function changePerson(
  deps: Deps,
  row: ExternalUser,
  change: PersonChange,
  refuse: (holder: { name: string; active: boolean }) => Error,
) {
  const all = redisKeys(deps.prefix);
  const keys = all.users(row.workspaceId);
  if (change.name !== row.name) {
    const holder = await nameHolder(deps, row.workspaceId, change.name, row.id);
    if (holder) throw refuse(holder);
  }
  const updated = await deps.db.$transaction(async (tx) => {
    const next = await tx.externalUser.update({ where: { id: row.id }, data: change });
    if (next.name !== row.name) await recordGone(tx, row);
    if (next.active) await tx.formerUser.deleteMany({ where: { workspaceId: row.workspaceId, name: next.name } });
    return next;
  });
  const renamed = updated.name !== row.name;
  const deactivated = row.active && !updated.active;
  if (row.active && (deactivated || renamed)) await deps.redis.hdel(keys, row.name);
  if (updated.active) await deps.redis.hset(keys, updated.name, updated.id);
  if (renamed) await deps.redis.hset(all.formerUsers(row.workspaceId), row.name, row.id);
  await gone(deps.redis, all, updated);
  // Open streams acting for them end on every edge (ADR 0095).
  if (row.active && (deactivated || renamed)) await deps.redis.publish(all.standingChanged, `person:${row.id}`);
  return { updated, renamed, deactivated, reactivated: !row.active && updated.active };
}

/** A person's row deleted, with what the edge knows of them (their connections are ended first, by the caller). */
export async function deletePerson(deps: Deps, person: { id: string; workspaceId: string; name: string }) {
  const keys = redisKeys(deps.prefix);
  await deps.db.$transaction(async (tx) => {
    await tx.externalUser.delete({ where: { id: person.id } });
    await recordGone(tx, person);
    await deps.redis.hdel(keys.users(person.workspaceId), person.name);
    await deps.redis.hset(keys.formerUsers(person.workspaceId), person.name, person.id);
  });
  await deps.redis.hdel(keys.userAttributes(person.workspaceId), person.id);
  // Open streams acting for them end on every edge (ADR 0095).
  await deps.redis.publish(keys.standingChanged, `person:${person.id}`);
}

/**
 * A name whose person is gone with no row left to say so (deleted, renamed away), kept in PostgreSQL: the record
 * `formerUsers` is republished from after a Redis loss, so the person's tokens stay refused.
 */
function recordGone(tx: Prisma.TransactionClient, person: { id: string; workspaceId: string; name: string }) {
  const { workspaceId, name } = person;
  return tx.formerUser.upsert({
    where: { workspaceId_name: { workspaceId, name } },
    create: { workspaceId, name, personId: person.id },
    update: { personId: person.id, goneAt: new Date() },
  });
}

/**
 * Whether a name is one of a person gone (`formerUsers`): an inactive person's name is, an active one's is not (a name
 * taken again, or a person reactivated). A token whose user claim names a gone person is refused at the edge.
 */
async function gone(
  redis: Deps['redis'],
  keys: ReturnType<typeof redisKeys>,
  row: { workspaceId: string; name: string; id: string; active: boolean },
): Promise<void> {
  if (row.active) await redis.hdel(keys.formerUsers(row.workspaceId), row.name);
  else await redis.hset(keys.formerUsers(row.workspaceId), row.name, row.id);
}
