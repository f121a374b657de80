import type { ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Kind, LiveContext, LiveResource, Marker } from './kind.ts';
import { kinds } from './specs.ts';

export interface LiveState {
  resources: LiveResource[];
  /** Names two resources of a kind share: the files cannot tell them apart (export refuses, plan reports). */
  ambiguous: ProblemIssue[];
}

async function markers(db: Db, workspaceId: string) {
  const rows = await db.managedResource.findMany({ where: { workspaceId } });
  const out = new Map<string, Marker>();
  for (const r of rows)
    out.set(`${r.kind}/${r.name}`, { file: r.file, references: r.references as Record<string, string> });
  return out;
}

/** Names two resources of a kind share. */
function ambiguity(resources: LiveResource[]): ProblemIssue[] {
  const seen = new Map<string, number>();
  for (const r of resources) seen.set(`${r.kind}/${r.name}`, (seen.get(`${r.kind}/${r.name}`) ?? 0) + 1);
  return [...seen]
    .filter(([, n]) => n > 1)
    .map(([key, n]) => ({
      path: key,
      message: `${n} resources of the workspace share this name: rename all but one (workspace files name resources, never ids)`,
    }));
}

/**
 * The workspace as its files would describe it: every kind, in apply's order, read by its declaration (each reads the
 * names of the kinds before it); then what names kinds read later (a server's approving keys).
 */
export async function readLive(deps: ControlPlaneDeps, workspaceId: string): Promise<LiveState> {
  const marks = await markers(deps.db, workspaceId);
  const resources: LiveResource[] = [];
  const names = (kind: Kind) => new Map(resources.filter((r) => r.kind === kind).map((r) => [r.id, r.name]));
  const ctx: LiveContext = { deps, workspaceId, marker: (kind, name) => marks.get(`${kind}/${name}`), names };
  for (const kind of kinds) resources.push(...(await kind.live(ctx)));
  for (const kind of kinds) if (kind.named) for (const r of resources) if (r.kind === kind.kind) kind.named(r, names);
  return { resources, ambiguous: ambiguity(resources) };
}
