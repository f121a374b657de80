import { randomUUID } from 'node:crypto';
import {
  approvalKey,
  type AuditActor,
  type Catalog,
  type AuditEventInput,
  type AuditSource,
} from '@toolplane/contracts';
import { AuthError, NotFoundError, UserError } from '@toolplane/errors';
import { decideApproval, promoteHeldJob, type HeldApprovalJob } from '@toolplane/queue';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import { appendAuditEvent, systemActor } from '../../db/audit-trail.ts';
import { auditScopes } from '../../db/audited-db.ts';
import type { Db, Tx } from '../../db/client.ts';
import type { Approval as ApprovalRow } from '../../generated/prisma/client.ts';
import { isUuid } from '../../db/ids.ts';
import type { Caller } from '../../http/auth.ts';
import { policyRuleInForce } from '../access-policies/approval.ts';
import { sessionRuleInForce } from '../sessions/settings.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type {
  Approval as ApprovalAnswer,
  DecideApprovalBody,
  ListApprovalsQuery,
  RequestedDetails,
} from './schemas.ts';

export type { ApprovalRow };

/** Who called, as stored: the audit actor, and every credential of the call (each is compared for self-approval). */
export type StoredRequester = AuditActor & RequestedDetails['requester'];

interface Decision {
  approver: AuditActor;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: string;
}

/** The state a reader sees: a pending or granted request past its expiry is expired, whether found so or not. */
export function stateAt(row: ApprovalRow, now: number): string {
  return (row.state === 'pending' || row.state === 'granted') && row.expiresAt.getTime() <= now ? 'expired' : row.state;
}

export function present(row: ApprovalRow, now = Date.now()) {
  const r = row.requester as StoredRequester;
  // A session rule's hold keeps why (ADR 0078, ingest.ts), a task grant's hold the grant: shown with the rule.
  type Held = Pick<ApprovalAnswer['rule'], 'session' | 'taskGrant'>;
  const rule = row.rule as unknown as StoredApprovalRule & Held;
  return {
    id: row.id,
    state: stateAt(row, now) as 'pending',
    server: { id: row.serverId, name: row.serverName },
    tool: row.tool,
    arguments: row.arguments as Record<string, unknown>,
    argumentsDigest: row.argumentsDigest,
    requester: { type: r.type, id: r.id, name: r.name },
    rule: { version: row.ruleVersion, ...rule },
    decisions: row.decisions as unknown as Decision[],
    requestedAt: row.requestedAt.toISOString(),
    expiresAt: row.expiresAt.toISOString(),
    decidedAt: row.decidedAt?.toISOString() ?? null,
    executedAt: row.executedAt?.toISOString() ?? null,
  };
}

/** A key limited to servers sees only its servers' requests (another's is not found, as on every route). */
const serverFilter = (caller: Caller) => (caller.serverIds ? { serverId: { in: caller.serverIds } } : {});

export async function byId(db: Db | Tx, caller: Caller, id: string): Promise<ApprovalRow> {
  const row = isUuid(id)
    ? await db.approval.findFirst({ where: { id, workspaceId: caller.workspaceId, ...serverFilter(caller) } })
    : null;
  if (!row) throw new NotFoundError('approval request', id);
  return row;
}

/** `GET /approvals`: the workspace's requests, newest first; `state` filters (expired: found so or past their time). */
export async function listApprovals({ db }: ControlPlaneDeps, { caller, query }: Input<undefined, ListApprovalsQuery>) {
  const now = new Date();
  const live = { in: ['pending', 'granted'] };
  const byState =
    query.state === undefined
      ? {}
      : query.state === 'expired'
        ? { OR: [{ state: 'expired' }, { state: live, expiresAt: { lte: now } }] }
        : query.state === 'pending' || query.state === 'granted'
          ? { state: query.state, expiresAt: { gt: now } }
          : { state: query.state };
  const rows = await db.approval.findMany({
    where: { workspaceId: caller.workspaceId, ...serverFilter(caller), ...byState },
    orderBy: [{ requestedAt: 'desc' }, { id: 'asc' }],
    take: query.limit,
  });
  return { data: rows.map((r) => present(r, now.getTime())) };
}

/** `GET /approvals/{id}`. */
export async function getApproval({ db }: ControlPlaneDeps, { params, caller }: Input) {
  return present(await byId(db, caller, params.id!));
}

/** The caller as an approver: an API key or a signed-in user's subject. */
function approverOf(caller: Caller): AuditActor {
  return caller.keyId !== undefined
    ? { type: 'api_key', id: caller.keyId, name: caller.keyName ?? null }
    : { type: 'oauth_subject', id: caller.subject ?? null, name: null };
}

const selfDecision = () =>
  new AuthError(
    'auth.forbidden',
    'the caller of a call never approves or denies it: another approver named by the rule must decide',
  );

/** 403 for the caller of the call itself: the same key, the same subject. */
export function refuseRequester(row: ApprovalRow, caller: Caller): void {
  const r = row.requester as StoredRequester;
  if ((caller.keyId && r.keyId === caller.keyId) || (caller.subject && r.subject === caller.subject))
    throw selfDecision();
}

/** 403 for the person the call was made for (`requester.person`) and for a person the rule does not name. */
export function refusePersonDecider(row: ApprovalRow, person: string): void {
  if ((row.requester as StoredRequester).person === person) throw selfDecision();
  const { approvers } = row.rule as unknown as StoredApprovalRule;
  if (!(approvers.people ?? []).includes(person))
    throw new AuthError(
      'auth.forbidden',
      `${person} is not an approver of this request: its server’s approvalRule names who may decide`,
    );
}

/** 403 for the caller of the call itself (same key, same subject) and for anyone the rule does not name. */
function refuseDecider(row: ApprovalRow, caller: Caller): void {
  refuseRequester(row, caller);
  const { approvers } = row.rule as unknown as StoredApprovalRule;
  const named =
    (caller.keyId !== undefined && (approvers.apiKeys ?? []).includes(caller.keyId)) ||
    (caller.subject !== undefined && (approvers.subjects ?? []).includes(caller.subject)) ||
    (caller.groups ?? []).some((g) => (approvers.groups ?? []).includes(g));
  if (!named)
    throw new AuthError(
      'auth.forbidden',
      `${caller.keyId ? `API key ${caller.keyId}` : `user ${caller.subject}`} is not an approver of this request: ` +
        'its rule (the server’s approvalRule, or an access policy’s approval) names who may decide',
    );
}

export const conflict = (message: string, state: string) =>
  new UserError('resource.conflict', message, { status: 409, details: { state } });

/** A request found past its expiry, as an audit event (by Toolplane: nobody decided). */
function approvalEvent(
  row: Pick<ApprovalRow, 'id' | 'workspaceId' | 'serverName' | 'tool'>,
  action: 'expired',
  actor: AuditActor,
  source: AuditSource,
): AuditEventInput {
  return {
    id: randomUUID(),
    at: new Date().toISOString(),
    workspaceId: row.workspaceId,
    actor,
    action: `approval.${action}`,
    resource: { type: 'approval', id: row.id },
    outcome: 'success',
    status: null,
    source,
    changes: null,
    details: { server: row.serverName, tool: row.tool },
  };
}

/**
 * A request found past its expiry, or ended early (its person left): expired in Redis (unless a retry found it first)
 * and in its row, with its event; outside the request's own event (which records the refusal). A task's call held for
 * it is promoted, so its task fails now rather than at the request's expiry (nothing is sent: its job finds the request
 * expired).
 */
export async function markExpired(deps: ControlPlaneDeps, row: ApprovalRow, source: AuditSource): Promise<void> {
  const rule = row.rule as unknown as StoredApprovalRule;
  const { held } = await decideApproval(deps.redis, approvalKey(deps.prefix, row.workspaceId, row.binding), {
    id: row.id,
    decision: 'expired',
    expiresAt: row.expiresAt.getTime(),
    expiresInSeconds: rule.expiresInSeconds,
  });
  await auditScopes.exit(() =>
    deps.db.$transaction(async (tx) => {
      const n = await tx.approval.updateMany({ where: { id: row.id, state: 'pending' }, data: { state: 'expired' } });
      if (n.count > 0) await appendAuditEvent(tx, approvalEvent(row, 'expired', systemActor, source));
    }),
  );
  if (held) await promoteHeld(deps, row, held);
}

/**
 * 409 when the rule the request was made under is no longer in force (changed, lifted, or the tool gone): neither the
 * tool's in its server's live catalog, an access policy's `require_approval` for the tool, nor an enforced session
 * rule's (ADR 0078). An approval under it
 * could never be spent.
 */
async function refuseChangedRule(tx: Tx, row: ApprovalRow): Promise<void> {
  const server = await tx.mcpServer.findUnique({ where: { id: row.serverId }, select: { catalogVersion: true } });
  const live = server
    ? await tx.catalogVersion.findFirst({
        where: { serverId: row.serverId, version: server.catalogVersion },
        select: { catalog: true },
      })
    : null;
  const tools = (live?.catalog as Catalog | null | undefined)?.tools ?? [];
  const inForce =
    tools.find((t) => t.tool.name === row.tool)?.approval?.version === row.ruleVersion ||
    (await policyRuleInForce(tx, row)) ||
    (await sessionRuleInForce(tx, row));
  if (!inForce)
    throw conflict(
      'the approval rule of this tool changed since the request was made: the call must be made again',
      row.state,
    );
}

/** One approver's decision: who (admitted already), which, why, and where the request came from. */
export interface ApproverDecision {
  approver: AuditActor;
  decision: 'approve' | 'deny';
  comment: string | undefined;
  source: AuditSource;
  /** Runs in the decision's transaction, under the row's lock, before anything is written (a person's link is used). */
  within?: (tx: Tx) => Promise<void>;
}

/**
 * One approver's decision on a request found, whoever decides (an API caller, a person through their link), under the
 * row's lock (two approvers racing: one after the other). A denial decides; an approval decides once `approvals`
 * distinct approvers gave one. Deciding writes the request's state in Redis (once: the script refuses a request no
 * longer pending); a held task's job is promoted after the commit. The request's own event (`approval.granted` or
 * `approval.denied`, one per approver's decision, from the caller's audit scope) carries the row's change: its `state`
 * moves when the request is decided.
 */
export async function decideRequest(deps: ControlPlaneDeps, found: ApprovalRow, how: ApproverDecision) {
  if (found.state === 'pending' && found.expiresAt.getTime() <= Date.now()) {
    await markExpired(deps, found, how.source);
    throw conflict(`approval request ${found.id} expired at ${found.expiresAt.toISOString()}`, 'expired');
  }
  const { row, held } = await decideLocked(deps, found, how).catch(async (err: unknown) => {
    // Redis found it past its time: the row and the trail say so too.
    if (err instanceof UserError && err.details.state === 'expired') await markExpired(deps, found, how.source);
    throw err;
  });
  if (held) await promoteHeld(deps, row, held);
  return present(row);
}

/** An API caller's decision: the caller must be an approver the rule names, never the caller of the call. */
async function decide(deps: ControlPlaneDeps, input: Input<DecideApprovalBody>, decision: 'approve' | 'deny') {
  const { caller, params, body } = input;
  const found = await byId(deps.db, caller, params.id!);
  refuseDecider(found, caller);
  return decideRequest(deps, found, {
    approver: approverOf(caller),
    decision,
    comment: body.comment,
    source: input.source,
  });
}

/**
 * A decided request a task holds: its job, delayed until the request's expiry, is promoted so that it runs (a grant,
 * spent by the job itself) or fails its task (a denial) now. Not promoted (Redis failing): it still does so at the
 * request's expiry, reading the decision then.
 */
async function promoteHeld(deps: ControlPlaneDeps, row: ApprovalRow, held: HeldApprovalJob): Promise<void> {
  if (!held.queuePrefix) return; // its edge promotes it once it knows where it went
  await promoteHeldJob(deps.redis, held.queuePrefix, held.taskId).catch((err: unknown) =>
    deps.log.warn({ approval: row.id, err: String(err) }, 'a held call was not promoted: it runs at its expiry'),
  );
}

/** The decision itself, in a transaction holding the row's lock. */
function decideLocked(
  deps: ControlPlaneDeps,
  found: ApprovalRow,
  how: ApproverDecision,
): Promise<{ row: ApprovalRow; held?: HeldApprovalJob | undefined }> {
  const { approver, decision, comment } = how;
  return deps.db.$transaction(
    async (tx) => {
      await tx.$queryRaw`SELECT id FROM approvals WHERE id = ${found.id}::uuid FOR UPDATE`;
      const cur = await tx.approval.findUniqueOrThrow({ where: { id: found.id } });
      if (cur.state !== 'pending')
        throw conflict(`approval request ${cur.id} is ${stateAt(cur, Date.now())}: it was decided already`, cur.state);
      await refuseChangedRule(tx, cur);
      const decisions = cur.decisions as unknown as Decision[];
      if (decisions.some((d) => d.approver.type === approver.type && d.approver.id === approver.id))
        throw conflict(`approval request ${cur.id}: you decided already`, cur.state);
      await how.within?.(tx);
      const now = new Date();
      const all = [...decisions, { approver, decision, comment: comment ?? null, at: now.toISOString() }];
      const rule = cur.rule as unknown as StoredApprovalRule;
      const decided =
        decision === 'deny'
          ? 'denied'
          : all.filter((d) => d.decision === 'approve').length >= rule.approvals
            ? 'granted'
            : undefined;
      let held: HeldApprovalJob | undefined;
      if (decided) {
        const { outcome: written, held: heldJob } = await decideApproval(
          deps.redis,
          approvalKey(deps.prefix, cur.workspaceId, cur.binding),
          {
            id: cur.id,
            decision: decided,
            expiresAt: cur.expiresAt.getTime(),
            expiresInSeconds: rule.expiresInSeconds,
            comment: decision === 'deny' ? comment : undefined,
          },
        );
        if (written !== 'ok') throw conflict(`approval request ${cur.id} is no longer pending (${written})`, written);
        held = heldJob;
      }
      const row = await tx.approval.update({
        where: { id: cur.id },
        data: { decisions: all as object[], ...(decided ? { state: decided, decidedAt: now } : {}) },
      });
      return { row, held };
    },
    { timeout: 15_000 },
  );
}

/** `POST /approvals/{id}/approve`. */
export function approveApproval(deps: ControlPlaneDeps, input: Input<DecideApprovalBody>) {
  return decide(deps, input, 'approve');
}

/** `POST /approvals/{id}/deny`. */
export function denyApproval(deps: ControlPlaneDeps, input: Input<DecideApprovalBody>) {
  return decide(deps, input, 'deny');
}
