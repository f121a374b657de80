import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { Db } from '../db/client.ts';
import { isUuid } from '../db/ids.ts';
import type { ControlPlaneDeps } from './deps.ts';
import type { Input } from './operation.ts';

/**
 * What the resources' handlers share about rows: the order of a workspace's list, one row by its id, the fields a
 * PATCH gives.
 */

/** A workspace's rows oldest first, ties by id (`findMany`'s arguments). */
function oldestFirst(workspaceId: string) {
  return { where: { workspaceId }, orderBy: [{ createdAt: 'asc' as const }, { id: 'asc' as const }] };
}

/** The fields among `keys` that a PATCH body gives (not `undefined`), for the row's update: the others stay. */
export function given<T extends object, K extends keyof T>(
  body: T,
  ...keys: K[]
): { [P in K]?: Exclude<T[P], undefined> } {
  return Object.fromEntries(keys.filter((k) => body[k] !== undefined).map((k) => [k, body[k]])) as {
    [P in K]?: Exclude<T[P], undefined>;
  };
}

/** The reads of a workspace's table (its Prisma delegate) that `workspaceRows` makes. */
interface WorkspaceTable<R> {
  findMany(args: ReturnType<typeof oldestFirst>): Promise<R[]>;
  findFirst(args: { where: { id: string; workspaceId: string } }): Promise<R | null>;
  findUnique(args: {
    where: { workspaceId_name: { workspaceId: string; name: string } };
  }): Promise<{ id: string } | null>;
}

/** What the answers call a row: `what` (`access policy`: 404s, `the access policy is invalid`), `one` (`a policy`). */
interface RowNames {
  what: string;
  one: string;
}

/**
 * A workspace's rows by id, as its handlers read them: `byId`, one row of the workspace (a 404 for another workspace's
 * row, or an id that is not a UUID); `list` (`GET /<rows>`: `{ data }` oldest first) and `get` (`GET /<rows>/{id}`),
 * each row answered as `present` shows it; `refuseTakenName`, the 409 of a name another row (not `except`) has.
 */
export function workspaceRows<R, V>(table: (db: Db) => WorkspaceTable<R>, names: RowNames, present: (row: R) => V) {
  const byId = async (db: Db, workspaceId: string, id: string): Promise<R> => {
    const row = isUuid(id) ? await table(db).findFirst({ where: { id, workspaceId } }) : null;
    if (!row) throw new NotFoundError(names.what, id);
    return row;
  };
  const list = async ({ db }: ControlPlaneDeps, { caller }: Input) => ({
    data: (await table(db).findMany(oldestFirst(caller.workspaceId))).map(present),
  });
  const get = async ({ db }: ControlPlaneDeps, { params, caller }: Input) =>
    present(await byId(db, caller.workspaceId, params.id!));
  const refuseTakenName = async (db: Db, workspaceId: string, name: string, except?: string): Promise<void> => {
    const existing = await table(db).findUnique({ where: { workspaceId_name: { workspaceId, name } } });
    if (existing && existing.id !== except)
      throw new ValidationError(
        `the ${names.what} is invalid`,
        [{ path: '/name', message: `${names.one} named "${name}" already exists` }],
        'resource.conflict',
        409,
      );
  };
  return { byId, list, get, refuseTakenName };
}
