import type { ApprovalApprovers, AuditActor, AuditSource } from '@toolplane/contracts';
import { AuthError, NotFoundError, UserError } from '@toolplane/errors';
import { appendSystemEvent } from '../../db/audit-trail.ts';
import { auditScopes } from '../../db/audited-db.ts';
import type { Db, Tx } from '../../db/client.ts';
import type { ChangeRequest as Row } from '../../generated/prisma/client.ts';
import { isUuid } from '../../db/ids.ts';
import { stepAuditScope } from '../../http/audit.ts';
import type { Caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { mayChangePolicies, refuseLoosening } from '../governing.ts';
import type { Input } from '../operation.ts';
import { actorOf, asApproved, guardedOperation, readTarget, targetVersion } from './four-eyes.ts';
import type { DecideChangeRequestBody, ListChangeRequestsQuery, PutChangeApprovalSettingsBody } from './schemas.ts';

export type { Row };
type Rule = { approvers: ApprovalApprovers; approvals: number; expiresInSeconds: number };
interface Decision {
  approver: AuditActor;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

const defaults = { enabled: false, approvers: {}, approvals: 1, expiresInSeconds: 86_400 };

/** `GET /change_approvals/settings`: off until someone turns it on. */
export async function getChangeApprovalSettings({ db }: ControlPlaneDeps, { caller }: Input) {
  const row = await db.changeApprovalSettings.findUnique({ where: { workspaceId: caller.workspaceId } });
  if (!row) return { ...defaults, updatedAt: null };
  const { enabled, approvals, expiresInSeconds } = row;
  return {
    enabled,
    approvers: row.approvers as ApprovalApprovers,
    approvals,
    expiresInSeconds,
    updatedAt: row.updatedAt.toISOString(),
  };
}

/** `PUT /change_approvals/settings`: only a caller who may change access policies (turning it off is a loosening). */
export async function putChangeApprovalSettings(deps: ControlPlaneDeps, input: Input<PutChangeApprovalSettingsBody>) {
  const { caller, body } = input;
  refuseLoosening(caller, 'four eyes on loosening', Object.keys(body));
  const { workspaceId } = caller;
  const data = { ...body, approvers: body.approvers as object };
  await deps.db.changeApprovalSettings.upsert({
    where: { workspaceId },
    create: { workspaceId, ...data },
    update: data,
  });
  return getChangeApprovalSettings(deps, { ...input, body: undefined });
}

export const stateAt = (row: Row, now: number) =>
  row.state === 'pending' && row.expiresAt.getTime() <= now ? 'expired' : row.state;

export function present(row: Row, result?: unknown) {
  const rule = row.rule as Rule;
  return {
    id: row.id,
    state: stateAt(row, Date.now()) as 'pending',
    operation: `${row.method} ${row.path}`,
    body: row.body ?? undefined,
    bodyDigest: row.bodyDigest,
    loosens: row.loosens as string[],
    requester: row.requester as AuditActor,
    approvers: rule.approvers,
    approvals: rule.approvals,
    decisions: row.decisions as unknown as Decision[],
    requestedAt: row.requestedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    decidedAt: row.decidedAt?.toISOString() ?? null,
    appliedAt: row.appliedAt?.toISOString() ?? null,
    ...(result !== undefined ? { result } : {}),
  };
}

export async function byId(db: Db, caller: Caller, id: string): Promise<Row> {
  const row = isUuid(id) ? await db.changeRequest.findFirst({ where: { id, workspaceId: caller.workspaceId } }) : null;
  if (!row) throw new NotFoundError('change request', id);
  return row;
}

/** `GET /change_requests`: newest first; `state` filters. */
export async function listChangeRequests(
  { db }: ControlPlaneDeps,
  { caller, query }: Input<undefined, ListChangeRequestsQuery>,
) {
  const now = new Date();
  const byState =
    query.state === undefined
      ? {}
      : query.state === 'expired'
        ? { OR: [{ state: 'expired' }, { state: 'pending', expiresAt: { lte: now } }] }
        : query.state === 'pending'
          ? { state: 'pending', expiresAt: { gt: now } }
          : { state: query.state };
  const rows = await db.changeRequest.findMany({
    where: { workspaceId: caller.workspaceId, ...byState },
    orderBy: [{ requestedAt: 'desc' }, { id: 'asc' }],
    take: query.limit,
  });
  return { data: rows.map((r) => present(r)) };
}

/** `GET /change_requests/{id}`. */
export async function getChangeRequest({ db }: ControlPlaneDeps, { caller, params }: Input) {
  return present(await byId(db, caller, params.id!));
}

export const conflict = (message: string, state: string) =>
  new UserError('resource.conflict', message, { status: 409, details: { state } });

/** An identity that made a request or decides one: a key, or a signed-in person. */
type Identity = Pick<Caller, 'keyId' | 'subject'>;

/** How far a chain of keys creating keys is followed (a longer one is refused as if it led to the requester). */
const chainLimit = 64;

/**
 * The identities behind `who`: itself, then the key or person that created its key, and so on up the chain of
 * creators (api_keys.created_by). `complete` false: the chain was longer than `chainLimit`.
 */
async function lineage(db: Db, workspaceId: string, who: Identity) {
  const keys = new Set<string>();
  const subjects = new Set<string>(who.subject !== undefined ? [who.subject] : []);
  let next = who.keyId;
  while (next !== undefined && !keys.has(next)) {
    if (keys.size >= chainLimit) return { keys, subjects, complete: false };
    keys.add(next);
    const row = isUuid(next)
      ? await db.apiKey.findFirst({ where: { id: next, workspaceId }, select: { createdBy: true } })
      : null;
    const by = row?.createdBy as { type?: string; id?: string } | null | undefined;
    next = by?.type === 'api_key' ? by.id : undefined;
    if (by?.type === 'oauth_subject' && by.id !== undefined) subjects.add(by.id);
  }
  return { keys, subjects, complete: true };
}

/**
 * 403 for the change's requester and any identity it controls: they never decide it, nor make a link to decide it. A
 * decider must be a different person, not a different key: refused are the requester's own key or
 * subject, a key the requester created (directly or through keys it created), and an identity of the same person (a
 * signed-in person and the keys they created, on either side).
 */
export async function refuseRequester(db: Db, row: Row, caller: Caller): Promise<void> {
  const requester = row.caller as Identity;
  const forbidden = (why: string) =>
    new AuthError('auth.forbidden', `the requester of a change never approves or denies it: another must (${why})`);
  if ((caller.keyId && requester.keyId === caller.keyId) || (caller.subject && requester.subject === caller.subject))
    throw forbidden('the requester itself');
  const decider = await lineage(db, row.workspaceId, caller);
  if (!decider.complete) throw forbidden('a chain of keys too long to follow');
  if (
    (requester.keyId !== undefined && decider.keys.has(requester.keyId)) ||
    (requester.subject !== undefined && decider.subjects.has(requester.subject))
  )
    throw forbidden('an identity the requester created');
  const made = await lineage(db, row.workspaceId, requester);
  if ([...made.subjects].some((s) => decider.subjects.has(s))) throw forbidden('the same person');
}

/**
 * 403 when the person a link is for is the change's requester: an external user is the signed-in person whose subject
 * is their SCIM `externalId` or their name (as their SCIM groups are found, http/oauth.ts), and the requester is every
 * person up its chain of creators. Whoever holds the link decides as that person.
 */
export async function refuseRequesterPerson(
  db: Db,
  row: Row,
  person: { name: string; externalId: string | null },
): Promise<void> {
  const made = await lineage(db, row.workspaceId, row.caller as Identity);
  const same = [...made.subjects].some((s) => s === person.externalId || s.toLowerCase() === person.name.toLowerCase());
  if (same)
    throw new AuthError(
      'auth.forbidden',
      `the requester of a change never approves or denies it: "${person.name}" is the person who requested it`,
    );
}

/** The requester never decides; anyone else must be named by the rule (none named: who may change policies). */
async function refuseDecider(db: Db, row: Row, caller: Caller): Promise<void> {
  await refuseRequester(db, row, caller);
  const { approvers } = row.rule as Rule;
  const none = Object.values(approvers).every((l) => (l ?? []).length === 0);
  const named = none
    ? mayChangePolicies(caller)
    : (caller.keyId !== undefined && (approvers.apiKeys ?? []).includes(caller.keyId)) ||
      (caller.subject !== undefined && (approvers.subjects ?? []).includes(caller.subject)) ||
      (caller.groups ?? []).some((g) => (approvers.groups ?? []).includes(g));
  if (!named)
    throw new AuthError(
      'auth.forbidden',
      `${caller.keyId ? `API key ${caller.keyId}` : `user ${caller.subject}`} is not an approver of change ` +
        `request ${row.id}: the workspace’s four-eyes setting names who may decide`,
    );
}

/** Ends a request outside the decision's own event: `expired` (by Toolplane) or `stale` (the target changed). */
async function markEnded(deps: ControlPlaneDeps, row: Row, state: 'expired' | 'stale', source: AuditSource) {
  await auditScopes.exit(() =>
    deps.db.$transaction(async (tx) => {
      const n = await tx.changeRequest.updateMany({ where: { id: row.id, state: 'pending' }, data: { state } });
      if (n.count > 0 && state === 'expired')
        await appendSystemEvent(tx, {
          workspaceId: row.workspaceId,
          action: 'change_request.expired',
          resource: { type: 'change_request', id: row.id },
          source,
          details: { operation: `${row.method} ${row.path}` },
        });
    }),
  );
}

/** The requester's input, as the guarded handler first read it. */
function replayInput(row: Row, source: AuditSource) {
  return {
    caller: row.caller as unknown as Caller,
    source,
    params: row.params as Record<string, string>,
    query: {},
    body: row.body ?? undefined,
  };
}

/** 409 (and the request `stale`) when its target is no longer in the state it was requested against. */
async function refuseStale(deps: ControlPlaneDeps, row: Row, source: AuditSource): Promise<void> {
  const g = guardedOperation(row.operationId);
  const stored = g ? await readTarget(deps, g, replayInput(row, source)) : null;
  if (stored && targetVersion(stored) === row.targetVersion) return;
  await markEnded(deps, row, 'stale', source);
  throw conflict(`${row.method} ${row.path} changed since change request ${row.id} was made: make it again`, 'stale');
}

/**
 * Records one decision under the row's lock; the state it decided (`approved` once enough approvals, `denied`).
 * `within` runs in the same transaction (a person's link used up with the decision).
 */
function record(deps: ControlPlaneDeps, found: Row, d: Decision, within?: (tx: Tx) => Promise<void>) {
  return deps.db.$transaction(async (tx) => {
    await tx.$queryRaw`SELECT id FROM change_requests WHERE id = ${found.id}::uuid FOR UPDATE`;
    await within?.(tx);
    const cur = await tx.changeRequest.findUniqueOrThrow({ where: { id: found.id } });
    if (cur.state !== 'pending') throw conflict(`change request ${cur.id} is ${cur.state} already`, cur.state);
    const decisions = cur.decisions as unknown as Decision[];
    if (decisions.some((x) => x.approver.type === d.approver.type && x.approver.id === d.approver.id))
      throw conflict(`change request ${cur.id}: you decided already`, cur.state);
    const all = [...decisions, d];
    const enough = all.filter((x) => x.decision === 'approve').length >= (cur.rule as Rule).approvals;
    const decided = d.decision === 'deny' ? 'denied' : enough ? 'approved' : undefined;
    const row = await tx.changeRequest.update({
      where: { id: cur.id },
      data: { decisions: all as object[], ...(decided ? { state: decided, decidedAt: new Date() } : {}) },
    });
    return { row, decided };
  });
}

/**
 * Applies an approved change once: the guarded operation's own handler, with the requester's input, unguarded, under
 * an audit scope of its own (`change_request.applied`: the requester as actor, the approvers in its details).
 */
async function apply(deps: ControlPlaneDeps, row: Row, source: AuditSource) {
  const g = guardedOperation(row.operationId);
  if (!g) throw new Error(`change request ${row.id}: no guarded operation ${row.operationId}`);
  const input = replayInput(row, source);
  const approvers = (row.decisions as unknown as Decision[]).map((d) => d.approver);
  const scope = stepAuditScope(input.caller, source, {
    declaration: { action: 'change_request.applied', resource: 'change_request' },
    resourceId: row.id,
    via: 'change_request',
    details: { operation: `${row.method} ${row.path}`, requester: row.requester, approvers },
  });
  const end = (state: string) =>
    auditScopes.exit(() =>
      deps.db.changeRequest.update({ where: { id: row.id }, data: { state, appliedAt: new Date() } }),
    );
  let result: unknown;
  try {
    result = await auditScopes.run(scope, () => asApproved(async () => g.op.handler!(deps, input)));
  } catch (err) {
    scope.open = false;
    await end('failed');
    throw err;
  }
  await scope.close(deps.trail);
  return present(await end('applied'), (result as { body?: unknown } | undefined)?.body ?? result);
}

/** Who decides, and how: an approver through the API, or a person through their link (`within`: the link used up). */
export interface Decider {
  approver: AuditActor;
  decision: 'approve' | 'deny';
  comment: string | null;
  source: AuditSource;
  within?: (tx: Tx) => Promise<void>;
}

/** One decision on `found` by a decider already checked: 409 when past its expiry, decided, or its target changed. */
export async function decideRow(deps: ControlPlaneDeps, found: Row, who: Decider) {
  const { decision, source } = who;
  if (found.state === 'pending' && found.expiresAt.getTime() <= Date.now()) {
    await markEnded(deps, found, 'expired', source);
    throw conflict(`change request ${found.id} expired at ${found.expiresAt.toISOString()}`, 'expired');
  }
  if (found.state !== 'pending') throw conflict(`change request ${found.id} is ${found.state} already`, found.state);
  // The approval that would apply the change: its target must be as it was when the change was made.
  const approvedSoFar = (found.decisions as unknown as Decision[]).filter((x) => x.decision === 'approve').length;
  if (decision === 'approve' && approvedSoFar + 1 >= (found.rule as Rule).approvals)
    await refuseStale(deps, found, source);
  const d = { approver: who.approver, decision, comment: who.comment, at: new Date().toISOString() };
  const { row, decided } = await record(deps, found, d, who.within);
  return decided === 'approved' ? apply(deps, row, source) : present(row);
}

async function decide(deps: ControlPlaneDeps, input: Input<DecideChangeRequestBody>, decision: 'approve' | 'deny') {
  const { caller, params, body, source } = input;
  const found = await byId(deps.db, caller, params.id!);
  await refuseDecider(deps.db, found, caller);
  return decideRow(deps, found, { approver: actorOf(caller), decision, comment: body.comment ?? null, source });
}

/** `POST /change_requests/{id}/approve`: once enough approvers approved, the change is applied (once). */
export function approveChangeRequest(deps: ControlPlaneDeps, input: Input<DecideChangeRequestBody>) {
  return decide(deps, input, 'approve');
}

/** `POST /change_requests/{id}/deny`. */
export function denyChangeRequest(deps: ControlPlaneDeps, input: Input<DecideChangeRequestBody>) {
  return decide(deps, input, 'deny');
}
