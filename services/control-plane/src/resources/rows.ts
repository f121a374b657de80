import { NotFoundError } from '@toolplane/errors';
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

/** The two reads of a workspace's table (its Prisma delegate) that `workspaceRows` makes. */
interface WorkspaceTable<R> {
  findMany(args: ReturnType<typeof oldestFirst>): Promise<R[]>;
  findFirst(args: { where: { id: string; workspaceId: string } }): Promise<R | null>;
}

/**
 * A workspace's rows by id, as its handlers read them: `byId`, one row of the workspace (a 404 naming `what` for
 * another workspace's row, or an id that is not a UUID); `list` (`GET /<rows>`: `{ data }` oldest first) and `get`
 * (`GET /<rows>/{id}`), each row answered as `present` shows it.
 */
export function workspaceRows<R, V>(table: (db: Db) => WorkspaceTable<R>, what: string, present: (row: R) => V) {
  const byId = async (db: Db, workspaceId: string, id: string): Promise<R> => {
    const row = isUuid(id) ? await table(db).findFirst({ where: { id, workspaceId } }) : null;
    if (!row) throw new NotFoundError(what, id);
    return row;
  };
  const list = async ({ db }: ControlPlaneDeps, { caller }: Input) => ({
    data: (await table(db).findMany(oldestFirst(caller.workspaceId))).map(present),
  });
  const get = async ({ db }: ControlPlaneDeps, { params, caller }: Input) =>
    present(await byId(db, caller.workspaceId, params.id!));
  return { byId, list, get };
}
