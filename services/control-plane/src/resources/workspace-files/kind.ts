import type { ProblemIssue } from '@toolplane/errors';
import { z } from 'zod';
import type { Fetcher } from '../../documents/fetch.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { operationOf, type Operation } from '../operation.ts';

/**
 * A kind of workspace file (ADR 0042, docs/gitops.md), declared in its resource's folder
 * (`resources/<name>/workspace-file.ts`) and listed once, in apply's order, in `resources/workspace-file-kinds.ts`:
 * its folder, the schema of its files, how the live workspace reads as its files, and the API operations that apply a
 * change of it, and what it alone knows of plan and apply (its own file format, its checks, what loosens a rule).
 * Plan, apply and export (this folder) run every kind the same way and reach a resource only through its declaration.
 * This module holds what those declarations share; it imports none of them (nor the list).
 */

/** A kind's name as plans, markers and `managed_resources` say it: `quota`, `access_policy`. */
export type Kind = string;

/** The name of the one resource a kind's one `file` describes (the role mapping, the session settings): the workspace's. */
export const singleName = 'workspace';

type Spec = Record<string, unknown>;

/** What apply recorded on a resource it manages (`managed_resources`). */
export interface Marker {
  file: string;
  references: Record<string, string>;
}

/** A resource of the live workspace in the form its file holds (`spec`), with its id and apply's marker. */
export interface LiveResource {
  kind: Kind;
  name: string;
  /** Its id (a secret's name). */
  id: string;
  spec: Spec;
  marker?: Marker | undefined;
  /** Connectors: what the upload was stored as (kind, descriptor, document) and the text an export writes. */
  connector?: { kind: string; descriptor: unknown; document: unknown; text: string; ext: string };
}

/** A resource the files describe (read-files.ts). */
export interface DesiredResource {
  kind: Kind;
  name: string;
  file: string;
  spec: Spec;
  /** Connectors: the document read as an upload would be, and its text. */
  connector?: { kind: string; slug: string; version: string; descriptor: object; document?: unknown; text: string };
}

type Action = 'create' | 'update' | 'delete' | 'unchanged' | 'unmanaged';

/** What apply would do to one resource; `fields`: what an update changes (`managed`: apply's marker only). */
export interface Change {
  kind: Kind;
  name: string;
  file: string;
  action: Action;
  fields: string[];
  desired?: DesiredResource | undefined;
  live?: LiveResource | undefined;
}

/** One step of an apply: an operation of a table, with its path, query and body. */
export interface Step {
  op: Operation;
  params?: Record<string, string>;
  query?: Record<string, string>;
  body?: unknown;
}

/** What a step reads besides its change: the ids of resources by `kind/name` (those created so far included), the values. */
export interface StepContext {
  ids: Map<string, string>;
  values: Record<string, string>;
}

/** Which of a server's fields a step writes: all, all but its approvals (they wait), or only its approvals. */
export type ServerPart = 'all' | 'withoutApproval' | 'approval';

/** What a kind's reader of the live workspace is given. */
export interface LiveContext {
  deps: ControlPlaneDeps;
  workspaceId: string;
  /** Apply's marker on the resource of `kind` named `name`. */
  marker(kind: Kind, name: string): Marker | undefined;
  /** The names of the resources of `kind` read so far (kinds before this one in the list), by id. */
  names(kind: Kind): Map<string, string>;
}

/** A resource a file names: it must be in the files or the workspace (plan's problem at `path` names it `what`). */
export interface NamedResource {
  kind: Kind;
  name: string;
  path: string;
  what: string;
}

/** A file of a kind that reads its own format (secrets, connectors), parsed as YAML or JSON. */
export interface FileRead {
  file: { path: string; content: string };
  /** Its value; undefined when it did not parse (`parsed` false, its problems already listed). */
  value: unknown;
  parsed: boolean;
  fetchDocument: Fetcher;
  /** Where the kind lists the file's problems. */
  problems: ProblemIssue[];
}

/** What a kind's check of a whole plan reads (a check that needs more of the workspace than the plan holds). */
export interface PlanCheck {
  deps: ControlPlaneDeps;
  workspaceId: string;
  changes: readonly Change[];
  live: { resources: LiveResource[] };
}

/** A change as four eyes on loosening judges it: the stored value (live), the body (absent: a deletion). */
interface LooseningChange {
  stored: Spec;
  body: Spec | undefined;
  created?: boolean;
}

export interface WorkspaceFileKind {
  kind: Kind;
  /** Its folder in the directory (one file per resource); '' for a kind whose one `file` is at the root. */
  dir: string;
  /** The one file at the directory's root that holds the kind (secrets, the role mapping). */
  file?: string;
  /** The schema of its files (none: a format of its own, read by `read`: secrets, connectors). */
  schema?: z.ZodType;
  /** Its files read in a format of its own (secrets, connectors), each file's problems listed. */
  read?(f: FileRead): DesiredResource[] | Promise<DesiredResource[]>;
  /** What a change of one resource loosens (four eyes on loosening, ADR 0079); none: it never loosens. */
  loosened?(change: LooseningChange): string[];
  /** Whether a creation is judged by what it grants (else only updates and deletions loosen). */
  creationLoosens?: boolean;
  /** What plan finds wrong in one change of the kind; `exists` says whether the files or the workspace have a resource. */
  problems?(c: Change, exists: (kind: Kind, name: string) => boolean): ProblemIssue[];
  /** What plan finds wrong reading more of the workspace (live catalogs): after the plan, once per kind. */
  check?(plan: PlanCheck): Promise<ProblemIssue[]>;
  /** Whether a change's step waits for one after every other creation and update (a server's approvers created later). */
  waits?(c: Change, changes: readonly Change[]): boolean;
  /** The live workspace's resources of the kind, as their files hold them. */
  live(ctx: LiveContext): Promise<LiveResource[]>;
  /** The other resources a file of the kind names (by name, as every reference in the files). */
  refers?(spec: Spec): NamedResource[];
  /** Once every kind is read: what names resources of kinds read after it (a server's approving keys). */
  named?(r: LiveResource, names: LiveContext['names']): void;
  /** The operation that creates or updates a resource of the kind (a server's: `part` of it); none: nothing to do. */
  write(c: Change, ctx: StepContext, part: ServerPart): Step | undefined;
  /** The operation that deletes one. */
  remove(c: Change, ctx: StepContext): Step | undefined;
}

/**
 * Rows named by their `name` as live resources of `kind`: each with its id, apply's marker and its file's content
 * (`spec`, given the marker: the references it recorded).
 */
export function liveRows<R extends { id: string; name: string }>(
  ctx: LiveContext,
  kind: Kind,
  rows: R[],
  spec: (row: R, marker: Marker | undefined) => Spec,
): LiveResource[] {
  return rows.map((r) => {
    const marker = ctx.marker(kind, r.name);
    return { kind, name: r.name, id: r.id, spec: spec(r, marker), marker };
  });
}

/** A workspace's rows by name (`findMany`'s arguments): the order a kind's `live` lists them in. */
export const byName = (ctx: LiveContext) => ({
  where: { workspaceId: ctx.workspaceId },
  orderBy: { name: 'asc' as const },
});

/**
 * A row's spec where its file holds the row's own fields: each field of `schema` as the row holds it (null when the row
 * has none), but those in `own`, which the file says its own way (a server by name).
 */
export function fieldsOf(schema: { shape: object }, row: object, own: Spec): Spec {
  const held = row as Record<string, unknown>;
  return Object.fromEntries(Object.keys(schema.shape).map((f) => [f, f in own ? own[f] : (held[f] ?? null)]));
}

/** The resources of `kind` a list in a file names, each at `<path>/<index>` (`*`, every one, names none). */
export function namedIn(kind: Kind, what: string, list: readonly string[] | null | undefined, path: string) {
  return (list ?? []).flatMap((name, i): NamedResource[] =>
    name === '*' ? [] : [{ kind, name, path: `${path}/${i}`, what }],
  );
}

/** `${env:NAME}` or `${secret:NAME}`: how files name a secret value they never hold. */
export const referencePattern = /^\$\{(env|secret):([A-Za-z0-9_][A-Za-z0-9_./-]{0,199})\}$/;

const Reference = z
  .string()
  .regex(referencePattern, 'must be a reference, ${env:NAME} or ${secret:NAME}: files never hold a secret value');

/** A map of references (an instance's `credentials`, a server's `headers`): what the files hold of its values. */
export const References = z.record(z.string(), Reference).default(() => ({}));

export const Names = z.array(z.string().min(1).max(200));

/**
 * A field of an API's create body as a file holds it: an optional one written out with what the API does when it is
 * left out (`defaults`, else null; a field taking neither stays optional), so that a file that leaves one out means the
 * default, and a change of it made elsewhere shows in the plan.
 */
export function withDefault(key: string, field: z.ZodType, defaults: Record<string, unknown>): z.ZodType {
  if (!field.safeParse(undefined).success) return field;
  const fallback = key in defaults ? defaults[key] : null;
  return field.safeParse(fallback).success ? field.default(() => structuredClone(fallback) as never) : field;
}

/** A server file's own external MCP configs (none for other kinds), as the plan and apply read them. */
export function inlineConfigsOf(
  spec: Record<string, unknown> | undefined,
): { name: string; url: string; tools: string[]; headers: Record<string, string> }[] {
  return (spec?.externalMcpConfigs ?? []) as ReturnType<typeof inlineConfigsOf>;
}

/** `TICKETS_API_KEY` from `tickets` and `api_key`: the reference an export proposes for a value it never saw. */
function envName(...parts: string[]): string {
  return parts
    .join('_')
    .replace(/[^A-Za-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .toUpperCase();
}

/** References of a secret-holding map: the recorded ones (apply's), else one proposed per field. */
export function references(marker: Marker | undefined, field: string, keys: string[], owner: string) {
  const out: Record<string, string> = {};
  for (const key of [...keys].sort())
    out[key] = marker?.references[`${field}/${key}`] ?? `\${env:${envName(owner, key)}}`;
  return out;
}

/** A step running `operationId` of `table` with its path, query and body. */
export const run = (table: readonly Operation[], operationId: string, rest: Omit<Step, 'op'> = {}): Step => ({
  op: operationOf(table, operationId),
  ...rest,
});

/** A reference's value (plan checked that the client gave every one apply writes). */
export function valueOf(ref: string, ctx: StepContext): string {
  const [, source, name] = referencePattern.exec(ref)!;
  return ctx.values[`${source}:${name}`] ?? '';
}

/** A map of references (`credentials`, `headers`) with their values. */
export const resolved = (map: unknown, ctx: StepContext) =>
  Object.fromEntries(Object.entries((map ?? {}) as Record<string, string>).map(([k, ref]) => [k, valueOf(ref, ctx)]));

/** The id of the resource of `kind` named `name` (created by this apply, or live); the name when there is none. */
export function idOf(ctx: StepContext, kind: Kind, name: string): string {
  return ctx.ids.get(`${kind}/${name}`) ?? name;
}

/** Whether a change writes `field`: a create writes every field. */
export const changed = (c: Change, field: string) => c.action === 'create' || c.fields.includes(field);

/** An update of apply's marker alone: no operation to run. */
export const markerOnly = (c: Change) => c.action === 'update' && !c.fields.some((f) => f !== 'managed');

/** A problem of a file at a JSON pointer (`<file>#<pointer>`). */
export const fileProblem = (file: string, path: string, message: string): ProblemIssue => ({
  path: `${file}#${path}`,
  message,
});

/** The ids of the live resources of `kind`, by name. */
export function idsByName(live: { resources: readonly LiveResource[] }, kind: Kind): Map<string, string> {
  return new Map(live.resources.filter((r) => r.kind === kind).map((r) => [r.name, r.id]));
}
