import type { AuditActor, AuditSource } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { Request, Response } from 'express';
import { auditScopes, type AuditScope } from '../../db/audited-db.ts';
import type { Tx } from '../../db/client.ts';
import { pageSource, personDecisionScope } from '../connect/audit.ts';
import { bindBrowser, nonceFor, pageFormRefusal, sha256 } from '../connect/binding.ts';
import { escapeHtml, htmlPage, nonceField, notFromItsPageWhy } from '../connect/pages.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { conflict, decideRow, present, stateAt } from './handlers.ts';

/**
 * People's pages to decide a change request (ADR 0079), as approval pages are for calls (ADR 0049): the link is the
 * credential (opaque, single-use, until the request's expiry, made by `POST /change_requests/{id}/links`), bound to
 * the browser that opens it (the binding cookie and the form's nonce, as connect links are, ADR 0027).
 */

const findLink = (deps: ControlPlaneDeps, tokenHash: string) =>
  deps.db.changeRequestLink.findUnique({ where: { tokenHash }, include: { changeRequest: true } });
type Link = NonNullable<Awaited<ReturnType<typeof findLink>>>;

const say = (res: Response, status: number, title: string, text: string) =>
  htmlPage(res, { status, title, main: `<p>${escapeHtml(text)}</p>` });

/** The binding cookie lasts as long as the request may still be decided, at most a day, at least ten minutes. */
const cookieSeconds = (expiresAt: Date) =>
  Math.min(86_400, Math.max(600, Math.ceil((expiresAt.getTime() - Date.now()) / 1000)));

/** Answers for a link that can decide nothing (never made, used, its request past its time or decided): true. */
function deadLink(res: Response, link: Link | null): link is null {
  if (!link) {
    say(res, 404, 'This link is not valid', 'Nothing was decided. Ask whoever sent it for a new link.');
    return true;
  }
  if (link.usedAt) {
    say(res, 410, 'This link was used already', `It decided once, at ${link.usedAt.toISOString()}; a link works once.`);
    return true;
  }
  const state = stateAt(link.changeRequest, Date.now());
  if (state === 'expired' || link.expiresAt.getTime() <= Date.now()) {
    const at = link.changeRequest.expiresAt.toISOString();
    say(res, 410, 'This request has expired', `It expired at ${at}: nobody can decide it any more.`);
    return true;
  }
  if (state !== 'pending') {
    say(res, 409, 'This request was decided already', `It is ${state}: nothing is left to decide.`);
    return true;
  }
  return false;
}

/** The change as its page shows it: what it changes, what it loosens, who asked, its body exactly. */
function changeFacts(link: Link): string {
  const shown = present(link.changeRequest);
  const facts: [string, string][] = [
    ['Change', shown.operation],
    ['Loosens', shown.loosens.join(', ')],
    [
      'Asked by',
      `${shown.requester.type === 'api_key' ? 'API key' : 'user'} ${shown.requester.name ?? shown.requester.id ?? ''}`,
    ],
    ['Approvals', `${shown.decisions.filter((d) => d.decision === 'approve').length} of ${shown.approvals} given`],
    ['Expires', shown.expiresAt],
  ];
  return (
    `<dl>${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>` +
    `<h2>The change</h2><pre>${escapeHtml(JSON.stringify(shown.body ?? null, null, 2))}</pre>`
  );
}

/** `GET /approve-change/{token}`: the change and a form to decide it; opening it decides nothing, uses nothing up. */
export async function showChangeRequestPage(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
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
  const intro = `${link.person}, a change that loosens a rule waits for your approval: it is applied only if approved.`;
  htmlPage(res, {
    status: 200,
    title: 'Approve this change?',
    main: `<p>${escapeHtml(intro)}</p>${changeFacts(link)}${form}`,
    form: {},
  });
}

/** The person's decision as its audit event: the person is the actor, the change request the resource. */
function personScope(link: Link, actor: AuditActor, decision: 'approve' | 'deny', source: AuditSource): AuditScope {
  return personDecisionScope({
    workspaceId: link.changeRequest.workspaceId,
    actor,
    action: decision === 'approve' ? 'change_request.approved' : 'change_request.denied',
    resource: { type: 'change_request', id: link.changeRequestId },
    source,
    via: 'change request link',
    model: 'changeRequest',
  });
}

/** Uses the link up in the decision's transaction: decided once, or not at all. */
const useLink = (link: Link) => async (tx: Tx) => {
  const used = await tx.changeRequestLink.updateMany({
    where: { id: link.id, usedAt: null },
    data: { usedAt: new Date() },
  });
  if (used.count === 0) throw conflict('this link was used already: it decides once', link.changeRequest.state);
};

function formDecision(req: Request): { decision: 'approve' | 'deny'; comment: string | null } | undefined {
  const body = (req.body ?? {}) as { decision?: unknown; comment?: unknown };
  const comment = typeof body.comment === 'string' ? body.comment.trim() : '';
  if ((body.decision !== 'approve' && body.decision !== 'deny') || comment.length > 1000) return undefined;
  return { decision: body.decision, comment: comment || null };
}

/**
 * `POST /approve-change/{token}`: the person's decision, from its own page in this browser (same origin, cookie,
 * nonce: else 403 before anything is decided), through the same code as the API's approvers (the row lock, the 409s,
 * the stale check, the replay once approved), the link used up in that decision's transaction.
 */
export async function decideChangeRequestOnPage(deps: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const tokenHash = sha256(req.params.token as string);
  const link = await findLink(deps, tokenHash);
  if (deadLink(res, link)) return;
  const refused = pageFormRefusal(deps.env.PUBLIC_API_URL, req, tokenHash);
  if (refused)
    return say(res, 403, 'Not decided', `${notFromItsPageWhy[refused]} Nothing was decided: open the link again.`);
  const how = formDecision(req);
  if (!how) return say(res, 400, 'Not decided', 'Choose Approve or Deny (a comment has at most 1000 characters).');
  const approver: AuditActor = { type: 'person', id: link.userId, name: link.person };
  const source = pageSource(req);
  const scope = personScope(link, approver, how.decision, source);
  try {
    const decided = await auditScopes.run(scope, () =>
      decideRow(deps, link.changeRequest, { approver, ...how, source, within: useLink(link) }),
    );
    if (how.decision === 'deny') return say(res, 200, 'Denied', 'The change will not be applied.');
    say(
      res,
      200,
      'Approved',
      (decided.state as string) === 'applied'
        ? 'The change is approved and applied, once, exactly as shown.'
        : `Your approval is recorded: ${decided.decisions.filter((d) => d.decision === 'approve').length} of ` +
            `${decided.approvals} given.`,
    );
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    say(res, err.status, 'Not decided', `${err.message}. Nothing was decided.`);
  } finally {
    scope.open = false;
  }
}
