import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomUUID } from 'node:crypto';
import type { AuditActor } from '@toolplane/contracts';
import { AuthError, NotFoundError, ValidationError } from '@toolplane/errors';
import { appendAuditEvent } from '../../db/audit-trail.ts';
import { auditScopes } from '../../db/audited-db.ts';
import type { Caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { canonical, mayChangePolicies } from '../governing.ts';
import { Reply, type Input, type Operation } from '../operation.ts';
import {
  creationLoosens,
  credentialPaths,
  loosenedFields,
  type LooseningKind,
  type RequestedChange,
} from './loosening.ts';
import { WaitsForApprovalAnswer } from './openapi.ts';
import { newApiKeyValue, sealKey } from '../api-keys/keys.ts';
import { newScimTokenValue, sealScimToken } from '../scim-token/token.ts';

/**
 * Four eyes on loosening (ADR 0079, docs/governance.md "Four eyes on loosening"): `fourEyes` wraps the changing
 * operations (PUT, PATCH, DELETE) of a resource's table. With the workspace's setting on, a change that loosens a rule
 * (loosening.ts) is not applied: it is stored as a change request, bound to the target's state, and answered 202. Once
 * approved, `replay` runs the same handler with the requester's input (change-requests/handlers.ts).
 */

type Handler = NonNullable<Operation['handler']>;

/**
 * What a kind's loosening compares when the target's `GET` answer and the request's body are not it (a connector's
 * document, sent as text): the stored and requested values, or undefined for a request that changes nothing (a dry run).
 */
type Compared = (
  deps: ControlPlaneDeps,
  input: Input<unknown, unknown, unknown>,
) => Promise<RequestedChange | undefined>;

/** A guarded operation: its own handler, the kind of resource, and the `GET` that reads its target. */
export interface Guarded {
  op: Operation;
  kind: LooseningKind;
  read: Handler;
  compared?: Compared | undefined;
}

const guarded = new Map<string, Guarded>();
/** Set while an approved change is replayed: its handler runs unguarded. */
const applying = new AsyncLocalStorage<true>();

/** A guarded operation by its id (an approved change request names it). */
export function guardedOperation(operationId: string): Guarded | undefined {
  return guarded.get(operationId);
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/** What the target's state is bound by: its `updatedAt` when it has one, else its answer (without `lastUsedAt`). */
export function targetVersion(stored: Record<string, unknown>): string {
  if (typeof stored.updatedAt === 'string' || stored.updatedAt === null) return sha256(canonical(stored.updatedAt));
  const { lastUsedAt: _ignored, ...rest } = stored;
  return sha256(canonical(rest));
}

/** The target as its `GET` answers it; null when there is none (the handler's own 404 answers). */
export async function readTarget(deps: ControlPlaneDeps, g: Guarded, input: Input<unknown, unknown, unknown>) {
  try {
    return (await g.read(deps, { ...input, query: {}, body: undefined })) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof NotFoundError) return null;
    throw err;
  }
}

export function actorOf(c: Caller): AuditActor {
  return c.keyId !== undefined
    ? { type: 'api_key', id: c.keyId, name: c.keyName ?? null }
    : { type: 'oauth_subject', id: c.subject ?? null, name: null };
}

/** The caller as stored for its replay: never the key's hash. */
function storedCaller(c: Caller): Record<string, unknown> {
  const { keyHash: _hash, ...rest } = c;
  return JSON.parse(JSON.stringify(rest)) as Record<string, unknown>;
}

/** Stores the change request and its event `change_request.requested` (the request's own event); its answer. */
async function hold(deps: ControlPlaneDeps, g: Guarded, input: Input<unknown, unknown, unknown>, h: Hold) {
  const { caller, body } = input;
  // A key's creation: its value made now and given to the requester alone; the request keeps its hash, which the
  // approved creation stores (api-keys/handlers.ts), so that no approver ever sees the value.
  const credential = h.created ? credentials[g.kind] : undefined;
  const key = credential?.value();
  const sealed = key !== undefined ? credential!.seal(key) : undefined;
  const params = {
    ...(input.params as Record<string, string>),
    ...(sealed ? { keyHash: sealed.hash, keyPrefix: sealed.prefix } : {}),
  };
  const now = new Date();
  const rule = { approvers: h.settings.approvers, approvals: h.settings.approvals };
  const expiresAt = new Date(now.getTime() + h.settings.expiresInSeconds * 1000);
  const id = randomUUID();
  const path = Object.entries(params as Record<string, string>).reduce(
    (p, [k, v]) => p.replace(`{${k}}`, v),
    g.op.route.path,
  );
  const data = {
    id,
    workspaceId: caller.workspaceId,
    operationId: g.op.route.operationId!,
    method: g.op.route.method.toUpperCase(),
    path,
    params: params as object,
    ...(body !== undefined ? { body: body as object } : {}),
    bodyDigest: sha256(canonical(body ?? null)),
    targetVersion: targetVersion(h.stored),
    loosens: h.fields,
    requester: actorOf(caller) as object,
    caller: storedCaller(caller) as object,
    rule: { ...rule, expiresInSeconds: h.settings.expiresInSeconds } as object,
    state: 'pending',
    requestedAt: now,
    expiresAt,
  };
  const scope = auditScopes.getStore();
  const event = await auditScopes.exit(() =>
    deps.db.$transaction(async (tx) => {
      await tx.changeRequest.create({ data });
      return appendAuditEvent(tx, {
        id: randomUUID(),
        at: now.toISOString(),
        workspaceId: caller.workspaceId,
        actor: actorOf(caller),
        action: 'change_request.requested',
        resource: { type: 'change_request', id },
        outcome: 'success',
        status: 202,
        source: input.source,
        changes: null,
        details: { operation: `${data.method} ${path}`, loosens: h.fields },
      });
    }),
  );
  if (scope) scope.recorded = event;
  const what = `${data.method} ${path}`;
  return waiting({ id, expiresAt, approvers: h.settings.approvers, fields: h.fields, what, key });
}

/**
 * The kinds whose creation is a credential: made when the creation is held, its value given to the requester alone
 * (the 202's `key`), its hash and prefix kept in the change request's parameters for the approved creation to store.
 */
const credentials: Partial<
  Record<LooseningKind, { value: () => string; seal: (v: string) => { hash: string; prefix: string } }>
> = {
  api_key: { value: newApiKeyValue, seal: sealKey },
  scim_token: { value: newScimTokenValue, seal: sealScimToken },
};

interface Hold {
  settings: { approvers: unknown; approvals: number; expiresInSeconds: number };
  stored: Record<string, unknown>;
  fields: string[];
  created: boolean;
}

interface Waiting {
  id: string;
  expiresAt: Date;
  approvers: unknown;
  fields: string[];
  what: string;
  key?: string | undefined;
}

function waiting(r: Waiting): Reply {
  return new Reply(
    202,
    {
      status: 'waits_for_approval',
      type: 'https://toolplane.dev/problems/change.waits_for_approval',
      title: 'The change loosens a rule: it waits for another person’s approval',
      detail:
        `${r.what} loosens ${r.fields.join(', ')}: with four eyes on loosening, it waits for approval ${r.id} ` +
        `(POST /change_requests/${r.id}/approve by another approver) and changes nothing until then` +
        (r.key !== undefined
          ? '; `key` is the new credential’s value, shown once: it works once the creation is approved'
          : ''),
      loosens: r.fields,
      changeRequest: { id: r.id, expiresAt: r.expiresAt.toISOString(), approvers: r.approvers },
      ...(r.key !== undefined ? { key: r.key } : {}),
    },
    { 'content-type': 'application/problem+json' },
  );
}

/**
 * What judging a change needs beyond its target: an access policy's, the principals of the workspace's other policies
 * (for a new one, of all its policies); a new person's, the principals of all its policies.
 */
async function contextOf(
  deps: ControlPlaneDeps,
  kind: LooseningKind,
  { workspaceId, stored }: { workspaceId: string; stored: Record<string, unknown> },
) {
  // A person added is judged by the policies naming people (loosening.ts `externalUserLoosened`).
  if (kind !== 'access_policy' && kind !== 'external_user') return {};
  const others = await deps.db.accessPolicy.findMany({
    where: { workspaceId, ...(typeof stored.id === 'string' ? { id: { not: stored.id } } : {}) },
    select: { principals: true },
  });
  return { otherPrincipals: others.flatMap((o) => o.principals as unknown[]) };
}

/** 422 for a loosening change carrying a credential's value: a change request never stores one. */
function refuseCredentials(body: unknown, fields: string[]): void {
  const paths = credentialPaths(body);
  if (paths.length === 0) return;
  const message =
    `this change loosens ${fields.join(', ')} and waits for approval, and a change request never stores a ` +
    'credential: send the credential in a change of its own, then this change without it';
  throw new ValidationError(
    'a change waiting for approval cannot carry credentials',
    paths.map((path) => ({ path, message })),
    'request.invalid',
    422,
  );
}

/**
 * 403 for a loosening change from a caller who may not change access policies: every field that loosens a rule is one
 * only such a caller changes (resources/governing.ts, ADR 0073), so its handler would refuse it once approved. It is
 * refused now, never held for an approval that could only fail (an operator's or a server-limited key's server made
 * public, an external server's `autoAccept`, a connector's costs).
 */
function refuseUnempowered(caller: Caller, fields: string[]): void {
  if (mayChangePolicies(caller)) return;
  throw new AuthError(
    'auth.forbidden',
    `this change loosens ${fields.join(', ')}: only a caller who may change access policies (the admin role, or an ` +
      'API key with the "management" scope and no server restriction) makes it, with or without four eyes',
  );
}

/** The change request `input` must become instead of running, or undefined: not loosening, or the setting off. */
async function heldChange(deps: ControlPlaneDeps, g: Guarded, input: Input<unknown, unknown, unknown>) {
  const settings = await deps.db.changeApprovalSettings.findUnique({
    where: { workspaceId: input.caller.workspaceId },
  });
  if (!settings?.enabled) return undefined;
  const stored = await readTarget(deps, g, input);
  if (!stored) return undefined;
  const seen = { ...stored, ...(await contextOf(deps, g.kind, { workspaceId: input.caller.workspaceId, stored })) };
  const created = g.op.route.method === 'post';
  const change = g.compared
    ? await g.compared(deps, input)
    : { stored: seen, body: input.body as Record<string, unknown> | undefined, created };
  if (!change) return undefined;
  const fields = loosenedFields(g.kind, change);
  if (fields.length === 0) return undefined;
  refuseUnempowered(input.caller, fields);
  refuseCredentials(input.body, fields);
  return hold(deps, g, input, { settings, stored, fields, created });
}

/** Runs `handler` as an approved change: unguarded. */
export function asApproved<T>(run: () => Promise<T>): Promise<T> {
  return applying.run(true, run);
}

/** Whether the running handler applies an approved change (its answer goes to the approver, not the requester). */
export function applyingApproved(): boolean {
  return applying.getStore() === true;
}

/** A creation has no target: its state is nothing (bound by its body alone; the handler refuses a duplicate). */
const nothing: Handler = async () => ({});

/** Whether a `POST` creates its kind's resource (`POST /scim_token` creates a token, replacing any earlier one). */
const creates = (operationId: string | undefined) =>
  operationId !== undefined && (operationId.startsWith('create') || operationId === 'rotateScimToken');

/** The `GET` a changing operation's target is read with; for a creation that loosens, `nothing`. */
function readerOf(kind: LooseningKind, table: Operation[], op: Operation): Handler | undefined {
  const { method, path } = op.route;
  if (method === 'post') return creationLoosens.has(kind) && creates(op.route.operationId) ? nothing : undefined;
  if (!['put', 'patch', 'delete'].includes(method)) return undefined;
  return table.find((o) => o.route.method === 'get' && o.route.path === path)?.handler;
}

/**
 * The table with its changing operations guarded: each `PUT`, `PATCH` and `DELETE` whose path a `GET` of the table
 * reads (the target's state, compared and bound), and the `POST` creating one for the kinds whose creation can grant
 * access (loosening.ts `creationLoosens`: judged by what it creates, so that deleting and creating again, or creating
 * instead of changing, is held as the change would be), and a `POST` `readers` names. Their routes document the 202.
 * `checks` run before a change is held, so that a request the handler would refuse is refused at once.
 */
interface FourEyesOptions {
  /** What a kind's loosening compares when the target's `GET` answer and the body are not it (`Compared`). */
  compared?: Compared | undefined;
  /** Per operation id: what its handler refuses before changing anything, run before a change is held. */
  checks?: Partial<Record<string, Handler>>;
  /** Per operation id: the reader of a `POST` that replaces its target (a curated connector's upgrade). */
  readers?: Partial<Record<string, Handler>>;
}

export function fourEyes(kind: LooseningKind, table: Operation[], options: FourEyesOptions = {}): Operation[] {
  const { compared, checks = {}, readers = {} } = options;
  return table.map((op) => {
    const read = readers[op.route.operationId!] ?? readerOf(kind, table, op);
    if (!op.handler || !read) return op;
    const g: Guarded = { op, kind, read, compared };
    guarded.set(op.route.operationId!, g);
    const check = checks[op.route.operationId!];
    const handler: Handler = async (deps, input) => {
      if (applying.getStore()) return op.handler!(deps, input);
      // What the handler would refuse is refused now, never held for an approval that could only fail.
      if (check) await check(deps, input);
      return (await heldChange(deps, g, input)) ?? op.handler!(deps, input);
    };
    const responses = {
      ...op.route.responses,
      // problem+json: typed clients keep the 200's shape as the answer's data.
      202: {
        description: 'The change loosens a rule and waits for another person’s approval (four eyes on loosening).',
        content: { 'application/problem+json': { schema: WaitsForApprovalAnswer } },
      },
    };
    return { ...op, handler, route: { ...op.route, responses } };
  });
}
