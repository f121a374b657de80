import type { AuditActor, AuditSource } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { Request, Response } from 'express';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import { auditScopes, type AuditScope } from '../../db/audited-db.ts';
import type { Tx } from '../../db/client.ts';
import { pageSource, personDecisionScope } from '../connect/audit.ts';
import { bindBrowser, nonceFor, pageFormRefusal, sha256 } from '../connect/binding.ts';
import { escapeHtml, htmlPage, nonceField, notFromItsPageWhy } from '../connect/pages.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import {
  conflict,
  decideRequest,
  present,
  refusePersonDecider,
  stateAt,
  type ApprovalRow,
  type StoredRequester,
} from './handlers.ts';

type Link = NonNullable<Awaited<ReturnType<typeof findLink>>>;

/** The binding cookie lasts as long as the request may still be decided, at most a day, at least ten minutes. */
const cookieSeconds = (expiresAt: Date) =>
  Math.min(86_400, Math.max(600, Math.ceil((expiresAt.getTime() - Date.now()) / 1000)));

const findLink = (deps: ControlPlaneDeps, tokenHash: string) =>
  deps.db.approvalLink.findUnique({ where: { tokenHash }, include: { approval: true } });

const say = (res: Response, status: number, title: string, text: string) =>
  htmlPage(res, { status, title, main: `<p>${escapeHtml(text)}</p>` });

/** Answers for a link that can decide nothing (never made, used, its request past its time or decided): true. */
function deadLink(res: Response, link: Link | null): link is null {
  if (!link) {
    say(res, 404, 'This link is not valid', 'Nothing was decided. Ask whoever sent it for a new link.');
    return true;
  }
  if (link.usedAt) {
    say(
      res,
      410,
      'This link was used already',
      `It decided once, at ${link.usedAt.toISOString()}; a link works once. Nothing more was decided.`,
    );
    return true;
  }
  const state = stateAt(link.approval, Date.now());
  if (state === 'expired' || link.expiresAt.getTime() <= Date.now()) {
    say(
      res,
      410,
      'This request has expired',
      `It expired at ${link.approval.expiresAt.toISOString()}: nobody can decide it any more. Nothing was decided; ` +
        'the caller must make the call again.',
    );
    return true;
  }
  if (state !== 'pending') {
    say(res, 409, 'This request was decided already', `It is ${state}: nothing is left to decide.`);
    return true;
  }
  return false;
}

/** Who asked, as a person reads it: the person the call was made for, and the key or user that made it. */
function askedBy(row: ApprovalRow): string {
  const r = row.requester as StoredRequester;
  const through = r.type === 'api_key' ? `API key ${r.name ?? r.id ?? ''}` : `user ${r.subject ?? r.id ?? ''}`;
  return r.person ? `${r.person} (through ${through})` : through;
}

/** The request as its page shows it: arguments as stored (secret values masked), never the values themselves. */
function requestFacts(row: ApprovalRow): string {
  const shown = present(row);
  const rule = row.rule as unknown as StoredApprovalRule;
  const given = shown.decisions.filter((d) => d.decision === 'approve').length;
  const facts: [string, string][] = [
    ['Asked by', askedBy(row)],
    ['Server', row.serverName],
    ['Tool', row.tool],
    ['Approvals', `${given} of ${rule.approvals} given`],
    ['Expires', shown.expiresAt],
  ];
  return (
    `<dl>${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>` +
    `<h2>Arguments</h2><pre>${escapeHtml(JSON.stringify(shown.arguments, null, 2))}</pre>`
  );
}

/**
 * `GET /approve/{token}`: the request and a form to decide it. Opening the link decides nothing and uses nothing up
 * (chat apps fetch links to preview them); it sets this browser's binding cookie, whose nonce the form carries.
 */
export async function showApprovalPage(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const tokenHash = sha256(req.params.token as string);
  const link = await findLink(deps, tokenHash);
  if (deadLink(res, link)) return;
  const browser = bindBrowser(deps.env.PUBLIC_API_URL, req, res, cookieSeconds(link.expiresAt));
  const form =
    `<form method="post">${nonceField(nonceFor(browser, tokenHash))}` +
    '<p><label for="comment">Comment (optional)</label><br>' +
    '<textarea id="comment" name="comment" maxlength="1000" rows="3" cols="60"></textarea></p>' +
    '<button type="submit" name="decision" value="approve">Approve</button> ' +
    '<button type="submit" name="decision" value="deny">Deny</button></form>';
  htmlPage(res, {
    status: 200,
    title: 'Approve this call?',
    main:
      `<p>${escapeHtml(`${link.person}, a call waits for your approval: it runs only if approved, once, as shown.`)}</p>` +
      `${requestFacts(link.approval)}${form}`,
    form: {},
  });
}

/** The person's decision as their audit event: the person is the actor, the request the resource. */
function personScope(link: Link, actor: AuditActor, decision: 'approve' | 'deny', source: AuditSource): AuditScope {
  return personDecisionScope({
    workspaceId: link.approval.workspaceId,
    actor,
    action: decision === 'approve' ? 'approval.granted' : 'approval.denied',
    resource: { type: 'approval', id: link.approvalId },
    source,
    via: 'approval link',
    model: 'approval',
  });
}

/** Uses the link up in the decision's transaction: decided once, or not at all (a replay racing it waits, then 409). */
const useLink = (link: Link) => async (tx: Tx) => {
  const used = await tx.approvalLink.updateMany({ where: { id: link.id, usedAt: null }, data: { usedAt: new Date() } });
  if (used.count === 0) throw conflict('this link was used already: it decides once', link.approval.state);
};

/** The form's fields: the decision, and an optional comment (at most 1000 characters). */
function formDecision(req: Request): { decision: 'approve' | 'deny'; comment: string | undefined } | undefined {
  const body = (req.body ?? {}) as { decision?: unknown; comment?: unknown };
  const comment = typeof body.comment === 'string' ? body.comment.trim() : '';
  if ((body.decision !== 'approve' && body.decision !== 'deny') || comment.length > 1000) return undefined;
  return { decision: body.decision, comment: comment || undefined };
}

/**
 * `POST /approve/{token}`: the person's decision. It must come from its own page in this browser (same origin, the
 * cookie and the form's nonce), else 403 before anything is decided; then it decides as that person through the same
 * code as the API's approvers (the row lock, the 409s, the rule-changed check, the audit event, a held task's job
 * promoted), and uses the link up in that decision's transaction.
 */
export async function decideOnPage(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const tokenHash = sha256(req.params.token as string);
  const link = await findLink(deps, tokenHash);
  if (deadLink(res, link)) return;
  const refused = pageFormRefusal(deps.env.PUBLIC_API_URL, req, tokenHash);
  if (refused)
    return say(res, 403, 'Not decided', `${notFromItsPageWhy[refused]} Nothing was decided: open the link again.`);
  const how = formDecision(req);
  if (!how) return say(res, 400, 'Not decided', 'Choose Approve or Deny (a comment has at most 1000 characters).');
  const actor: AuditActor = { type: 'person', id: link.userId, name: link.person };
  const scope = personScope(link, actor, how.decision, pageSource(req));
  try {
    refusePersonDecider(link.approval, link.person);
    const decided = await auditScopes.run(scope, () =>
      decideRequest(deps, link.approval, { approver: actor, ...how, source: pageSource(req), within: useLink(link) }),
    );
    const rule = link.approval.rule as unknown as StoredApprovalRule;
    const given = decided.decisions.filter((d) => d.decision === 'approve').length;
    if (how.decision === 'deny')
      return say(
        res,
        200,
        'Denied',
        'The call will not run: its caller is refused, with your comment, until it expires.',
      );
    say(
      res,
      200,
      'Approved',
      (decided.state as string) === 'granted'
        ? 'The call is approved: it runs once, with exactly these arguments.'
        : `Your approval is recorded: ${given} of ${rule.approvals} given.`,
    );
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    say(res, err.status, 'Not decided', `${err.message}. Nothing was decided.`);
  } finally {
    scope.open = false;
  }
}
