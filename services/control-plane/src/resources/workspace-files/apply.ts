import type { AuditSource } from '@toolplane/contracts';
import { toProblem, UserError, ValidationError, type Problem, type ProblemIssue } from '@toolplane/errors';
import type { Caller } from '../../http/auth.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { invokeOperation } from '../operation.ts';
import { inlineConfigsOf, type Change, type ServerPart, type StepContext } from './kind.ts';
import { kindOf, kinds } from './specs.ts';
import { stepOf } from './steps.ts';

/** The fields an update or deletion loosens (four eyes on loosening), compared as the files and the live state say. */
function loosened(c: Change): string[] {
  const kind = kindOf(c.kind);
  if (!kind.loosened) return [];
  // A creation is judged by what it grants, as its POST is (a new policy: plan, without the live policies, counts the
  // keys it names as named elsewhere; apply's own step judges them as they are).
  if (c.action === 'create' && kind.creationLoosens) {
    const spec = c.desired?.spec;
    return kind.loosened({ stored: { otherPrincipals: spec?.principals }, body: spec, created: true });
  }
  if (!c.live || (c.action !== 'update' && c.action !== 'delete')) return [];
  // A key freed by a policy's deletion (no policy naming it any more) is seen by apply's own step, not by plan.
  const stored = { configured: true, ...c.live.spec, otherPrincipals: c.live.spec.principals };
  return kind.loosened({ stored, body: c.action === 'delete' ? undefined : c.desired?.spec });
}

/** A change as the API reports it; one that loosens a rule says so, and which fields. */
export const reported = (c: Change) => {
  const loosens = loosened(c);
  return {
    kind: c.kind,
    name: c.name,
    file: c.file,
    action: c.action,
    fields: c.fields,
    ...(loosens.length > 0 ? { loosens: true, loosenedFields: loosens } : {}),
  };
};

export interface ApplyResult {
  outcome: 'applied' | 'failed' | 'waits_for_approval';
  applied: ReturnType<typeof reported>[];
  notApplied: ReturnType<typeof reported>[];
  failed?: ReturnType<typeof reported> & { problem: Problem };
  /** The loosening change apply stopped before (four eyes on loosening): its change request waits for approval. */
  waiting?: ReturnType<typeof reported> & { changeRequest: { id: string; expiresAt: string }; key?: string };
  /** Keys apply created: their values, shown once (as `POST /api_keys` shows them). */
  createdKeys: { name: string; id: string; key: string }[];
}

/** One step of a change: a server whose approvals wait is written in two (`stepOf`'s parts). */
interface Entry {
  c: Change;
  part: ServerPart;
}

/**
 * Creates and updates in dependency order, then the approvals of servers whose rule names keys or people the apply
 * creates (after those), then deletions in the reverse order.
 */
function ordered(changes: Change[]): Entry[] {
  const rank = (c: Change) => kinds.findIndex((k) => k.kind === c.kind);
  const writes = changes.filter((c) => c.action === 'create' || c.action === 'update');
  const waiting = new Set(writes.filter((c) => kindOf(c.kind).waits?.(c, changes) ?? false));
  const deletes = changes.filter((c) => c.action === 'delete').sort((a, b) => rank(b) - rank(a));
  return [
    ...writes.map((c): Entry => ({ c, part: waiting.has(c) ? 'withoutApproval' : 'all' })),
    ...[...waiting].map((c): Entry => ({ c, part: 'approval' })),
    ...deletes.map((c): Entry => ({ c, part: 'all' })),
  ];
}

/** The references apply wrote a resource's secrets from (`credentials/api_key` → `${env:…}`): its marker keeps them. */
function referencesOf(c: Change): Record<string, string> {
  const out: Record<string, string> = {};
  for (const field of ['credentials', 'headers'])
    for (const [key, ref] of Object.entries((c.desired?.spec[field] ?? {}) as Record<string, string>))
      out[`${field}/${key}`] = ref;
  for (const inline of inlineConfigsOf(c.desired?.spec))
    for (const [key, ref] of Object.entries(inline.headers))
      out[`externalMcpConfigs/${inline.name}/headers/${key}`] = ref;
  return out;
}

async function mark({ db }: ControlPlaneDeps, workspaceId: string, c: Change): Promise<void> {
  const where = { workspaceId_kind_name: { workspaceId, kind: c.kind, name: c.name } };
  if (c.action === 'delete') {
    await db.managedResource.deleteMany({ where: { workspaceId, kind: c.kind, name: c.name } });
    return;
  }
  const data = { file: c.file, references: referencesOf(c), appliedAt: new Date() };
  await db.managedResource.upsert({
    where,
    create: { workspaceId, kind: c.kind, name: c.name, ...data },
    update: data,
  });
}

/** What a created resource's answer says: its id, and a created key's value. */
function noteCreated(c: Change, body: unknown, ctx: StepContext, result: ApplyResult): void {
  const answer = (body ?? {}) as { id?: unknown; key?: unknown };
  if (c.action === 'create' && typeof answer.id === 'string') ctx.ids.set(`${c.kind}/${c.name}`, answer.id);
  if (c.kind === 'api_key' && typeof answer.key === 'string' && typeof answer.id === 'string')
    result.createdKeys.push({ name: c.name, id: answer.id, key: answer.key });
}

/**
 * The problem of a step answered with an error status rather than thrown (a handler writing its own 422: a workflow
 * deployment whose document does not compile): a failed step all the same.
 */
function answeredProblem(status: number, body: unknown): Problem {
  const answer = (body ?? {}) as { detail?: unknown; message?: unknown; errors?: unknown };
  const text = [answer.detail, answer.message].find((m): m is string => typeof m === 'string');
  const message = text ?? `the operation answered ${status}`;
  const issues = Array.isArray(answer.errors) ? (answer.errors as ProblemIssue[]) : [];
  return toProblem(
    issues.length > 0
      ? new ValidationError(message, issues, 'request.invalid', status)
      : new UserError('request.invalid', message, { status }),
  );
}

/**
 * A guarded operation's 202 (change-requests/four-eyes.ts): the change request it made, and a held key creation's
 * value (given to the requester alone: the key works once approved).
 */
function heldRequest(body: unknown) {
  const answer = body as
    { status?: unknown; changeRequest?: { id: string; expiresAt: string }; key?: unknown } | undefined;
  if (answer?.status !== 'waits_for_approval' || !answer.changeRequest) return undefined;
  const changeRequest = { id: answer.changeRequest.id, expiresAt: answer.changeRequest.expiresAt };
  return { changeRequest, ...(typeof answer.key === 'string' ? { key: answer.key } : {}) };
}

/**
 * Carries out a plan with no problems, one change at a time, each as its API operation (its own transaction and audit
 * event) followed by apply's marker. The first failure stops it, and so does the first change that loosens a rule while
 * four eyes on loosening is on (ADR 0079: its change request made, `waiting` names it; the changes before it applied):
 * the answer says what was applied and what was not, and the same files applied again finish the job (resources are
 * found by name).
 */
export async function applyPlan(
  deps: ControlPlaneDeps,
  by: { caller: Caller; source: AuditSource },
  plan: { changes: Change[]; ctx: StepContext },
): Promise<ApplyResult> {
  const steps = ordered(plan.changes);
  const result: ApplyResult = { outcome: 'applied', applied: [], notApplied: [], createdKeys: [] };
  for (const [i, { c, part }] of steps.entries()) {
    const step = stepOf(c, plan.ctx, part);
    if (step) {
      const { op, ...input } = step;
      const resourceId = c.live?.id ?? plan.ctx.ids.get(`${c.kind}/${c.name}`) ?? c.name;
      const outcome = await invokeOperation(deps, op, { ...by, ...input, via: 'workspace.apply', resourceId });
      const held = outcome.ok && outcome.status === 202 ? heldRequest(outcome.body) : undefined;
      if (!outcome.ok || outcome.status >= 400 || held) {
        if (held) {
          result.outcome = 'waits_for_approval';
          result.waiting = { ...reported(c), ...held };
        } else {
          result.outcome = 'failed';
          result.failed = {
            ...reported(c),
            problem: outcome.ok ? answeredProblem(outcome.status, outcome.body) : outcome.problem,
          };
        }
        result.notApplied = steps
          .slice(i + 1)
          .filter((e) => e.part !== 'approval' || e.c !== c)
          .map((e) => reported(e.c));
        return result;
      }
      noteCreated(c, outcome.body, plan.ctx, result);
    }
    // A server's approvals, written after it: the change was applied and marked with its first step.
    if (part === 'approval') continue;
    await mark(deps, by.caller.workspaceId, c);
    result.applied.push(reported(c));
  }
  return result;
}
