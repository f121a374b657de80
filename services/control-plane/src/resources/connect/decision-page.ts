import type { AuditActor, AuditSource } from '@toolplane/contracts';
import { UserError } from '@toolplane/errors';
import type { Request, Response } from 'express';
import { auditScopes } from '../../db/audited-db.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { pageSource, personDecisionScope } from './audit.ts';
import { bindBrowser, nonceFor, pageFormRefusal, sha256 } from './binding.ts';
import { escapeHtml, htmlPage, nonceField, notFromItsPageWhy } from './pages.ts';

/**
 * The page a person decides a request on through their link: an approval's (ADR 0049), a change request's (ADR
 * 0079). The link is the credential (opaque, single-use, until the request's expiry), bound to the browser that opens
 * it (the binding cookie and the form's nonce, as connect links are, ADR 0027). Both kinds answer the same way: what
 * each says, and how it decides, is its own (`DecisionPage`).
 */

/** A link as its page reads it (`approval_links`, `change_request_links`). */
interface DecisionLink {
  userId: string;
  person: string;
  expiresAt: Date;
  usedAt: Date | null;
}

/** The person's choice on the form: the decision, and a comment (at most 1000 characters) or none. */
interface FormDecision {
  decision: 'approve' | 'deny';
  comment: string | undefined;
}

/** One kind of decision page: its link, its words, its facts and how it decides. */
export interface DecisionPage<L extends DecisionLink> {
  findLink(deps: ControlPlaneDeps, tokenHash: string): Promise<L | null>;
  /** The link's request now: its id, workspace, state (`expired` once past its time) and when it expires. */
  request(link: L): { id: string; workspaceId: string; state: string; expiresAt: Date };
  /** What a used link and an expired request add to their pages' words (`Nothing more was decided.`). */
  afterUsed?: string;
  afterExpired?: string;
  /** The page's title and its first paragraph, for the person the link is for. */
  title: string;
  intro(person: string): string;
  /** The request as the page shows it (HTML made with `escapeHtml`, `factsHtml`). */
  facts(link: L): string;
  /** A refusal of the person before anything is decided (one the request's rule does not name). */
  refuse?(link: L): void;
  /**
   * The person's decision as its audit event (the person the actor, the request the resource): its actions, the
   * request's type, the event's `details.via`, the model the decision writes.
   */
  audit: { approved: string; denied: string; type: string; via: string; model: string };
  /** Decides as the person (the link used up in the decision's transaction); answers what an approval says. */
  decide(
    deps: ControlPlaneDeps,
    link: L,
    how: FormDecision & { approver: AuditActor; source: AuditSource },
  ): Promise<string>;
  /** What a denial says. */
  denied: string;
}

const say = (res: Response, status: number, title: string, text: string) =>
  htmlPage(res, { status, title, main: `<p>${escapeHtml(text)}</p>` });

/** The binding cookie lasts as long as the request may still be decided, at most a day, at least ten minutes. */
const cookieSeconds = (expiresAt: Date) =>
  Math.min(86_400, Math.max(600, Math.ceil((expiresAt.getTime() - Date.now()) / 1000)));

/** A request's facts as a definition list, then what it would do (`heading`, `shown` as JSON). */
export function factsHtml(facts: [string, string][], heading: string, shown: unknown): string {
  return (
    `<dl>${facts.map(([k, v]) => `<dt>${escapeHtml(k)}</dt><dd>${escapeHtml(v)}</dd>`).join('')}</dl>` +
    `<h2>${escapeHtml(heading)}</h2><pre>${escapeHtml(JSON.stringify(shown, null, 2))}</pre>`
  );
}

/** Answers for a link that can decide nothing (never made, used, its request past its time or decided): true. */
function deadLink<L extends DecisionLink>(p: DecisionPage<L>, res: Response, link: L | null): link is null {
  if (!link) {
    say(res, 404, 'This link is not valid', 'Nothing was decided. Ask whoever sent it for a new link.');
    return true;
  }
  const more = (words?: string) => (words ? ` ${words}` : '');
  if (link.usedAt) {
    const at = link.usedAt.toISOString();
    say(res, 410, 'This link was used already', `It decided once, at ${at}; a link works once.${more(p.afterUsed)}`);
    return true;
  }
  const { state, expiresAt } = p.request(link);
  if (state === 'expired' || link.expiresAt.getTime() <= Date.now()) {
    const text = `It expired at ${expiresAt.toISOString()}: nobody can decide it any more.${more(p.afterExpired)}`;
    say(res, 410, 'This request has expired', text);
    return true;
  }
  if (state !== 'pending') {
    say(res, 409, 'This request was decided already', `It is ${state}: nothing is left to decide.`);
    return true;
  }
  return false;
}

/** The form's fields: the decision, and an optional comment (at most 1000 characters). */
function formDecision(req: Request): FormDecision | undefined {
  const body = (req.body ?? {}) as { decision?: unknown; comment?: unknown };
  const comment = typeof body.comment === 'string' ? body.comment.trim() : '';
  if ((body.decision !== 'approve' && body.decision !== 'deny') || comment.length > 1000) return undefined;
  return { decision: body.decision, comment: comment || undefined };
}

/**
 * `GET` of the link: the request and a form to decide it. Opening the link decides nothing and uses nothing up (chat
 * apps fetch links to preview them); it sets this browser's binding cookie, whose nonce the form carries.
 */
async function show<L extends DecisionLink>(p: DecisionPage<L>, deps: ControlPlaneDeps, req: Request, res: Response) {
  const tokenHash = sha256(req.params.token as string);
  const link = await p.findLink(deps, tokenHash);
  if (deadLink(p, res, link)) return;
  const browser = bindBrowser(deps.env.PUBLIC_API_URL, req, res, cookieSeconds(link.expiresAt));
  const form =
    `<form method="post">${nonceField(nonceFor(browser, tokenHash))}` +
    '<p><label for="comment">Comment (optional)</label><br>' +
    '<textarea id="comment" name="comment" maxlength="1000" rows="3" cols="60"></textarea></p>' +
    '<button type="submit" name="decision" value="approve">Approve</button> ' +
    '<button type="submit" name="decision" value="deny">Deny</button></form>';
  const main = `<p>${escapeHtml(p.intro(link.person))}</p>${p.facts(link)}${form}`;
  htmlPage(res, { status: 200, title: p.title, main, form: {} });
}

/**
 * `POST` of the link: the person's decision. It must come from its own page in this browser (same origin, the cookie
 * and the form's nonce), else 403 before anything is decided; then it decides as that person through the same code
 * as the API's approvers (`p.decide`), the link used up in that decision's transaction.
 */
async function decide<L extends DecisionLink>(p: DecisionPage<L>, deps: ControlPlaneDeps, req: Request, res: Response) {
  const tokenHash = sha256(req.params.token as string);
  const link = await p.findLink(deps, tokenHash);
  if (deadLink(p, res, link)) return;
  const refused = pageFormRefusal(deps.env.PUBLIC_API_URL, req, tokenHash);
  if (refused)
    return say(res, 403, 'Not decided', `${notFromItsPageWhy[refused]} Nothing was decided: open the link again.`);
  const how = formDecision(req);
  if (!how) return say(res, 400, 'Not decided', 'Choose Approve or Deny (a comment has at most 1000 characters).');
  const approver: AuditActor = { type: 'person', id: link.userId, name: link.person };
  const source = pageSource(req);
  const { audit } = p;
  const { id, workspaceId } = p.request(link);
  const scope = personDecisionScope({
    workspaceId,
    actor: approver,
    action: how.decision === 'approve' ? audit.approved : audit.denied,
    resource: { type: audit.type, id },
    source,
    via: audit.via,
    model: audit.model,
  });
  try {
    p.refuse?.(link);
    const approved = await auditScopes.run(scope, () => p.decide(deps, link, { ...how, approver, source }));
    if (how.decision === 'deny') return say(res, 200, 'Denied', p.denied);
    say(res, 200, 'Approved', approved);
  } catch (err) {
    if (!(err instanceof UserError)) throw err;
    say(res, err.status, 'Not decided', `${err.message}. Nothing was decided.`);
  } finally {
    scope.open = false;
  }
}

/** The two handlers of a kind of decision page (`GET` and `POST` of its link), for its router. */
export function decisionPage<L extends DecisionLink>(p: DecisionPage<L>) {
  return {
    show: (deps: ControlPlaneDeps, req: Request, res: Response) => show(p, deps, req, res),
    decide: (deps: ControlPlaneDeps, req: Request, res: Response) => decide(p, deps, req, res),
  };
}
