/** What the resources' handlers share about rows: the order of a workspace's list, the fields a PATCH gives. */

/** A workspace's rows oldest first, ties by id: `db.quota.findMany(oldestFirst(workspaceId))`. */
export function oldestFirst(workspaceId: string) {
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
