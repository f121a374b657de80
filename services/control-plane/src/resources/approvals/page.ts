import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Tx } from '../../db/client.ts';
import { decisionPage, factsHtml } from '../connect/decision-page.ts';
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

const findLink = (deps: ControlPlaneDeps, tokenHash: string) =>
  deps.db.approvalLink.findUnique({ where: { tokenHash }, include: { approval: true } });
type Link = NonNullable<Awaited<ReturnType<typeof findLink>>>;

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
    // A task grant's hold (ADR 0108, 0113): the grant in its person's words, and what the call is outside of.
    ...(shown.rule.taskGrant ? grantFacts(shown.rule.taskGrant) : []),
    ['Approvals', `${given} of ${rule.approvals} given`],
    ['Expires', shown.expiresAt],
  ];
  return factsHtml(facts, 'Arguments', shown.arguments);
}

/** The grant that held the call, and what the call violates of it ("calls": past its budget). */
function grantFacts(grant: { id: string; purpose: string; violated: string }): [string, string][] {
  const outside =
    grant.violated === 'calls'
      ? 'its budget of calls is spent'
      : grant.violated === 'tools'
        ? 'it does not cover this tool'
        : grant.violated === 'expiry'
          ? 'it expired'
          : `its bound "${grant.violated}" does not hold`;
  return [
    ['Task grant', `${grant.purpose} (${grant.id})`],
    ['Outside the grant', outside],
  ];
}

/** Uses the link up in the decision's transaction: decided once, or not at all (a replay racing it waits, then 409). */
const useLink = (link: Link) => async (tx: Tx) => {
  const used = await tx.approvalLink.updateMany({ where: { id: link.id, usedAt: null }, data: { usedAt: new Date() } });
  if (used.count === 0) throw conflict('this link was used already: it decides once', link.approval.state);
};

/**
 * People's approval pages (ADR 0049): `GET /approve/{token}` shows the call and a form, `POST /approve/{token}`
 * decides it as that person through the same code as the API's approvers (the row lock, the 409s, the rule-changed
 * check, the audit event, a held task's job promoted).
 */
export const approvalPage = decisionPage<Link>({
  findLink,
  request: ({ approval }) => ({ ...approval, state: stateAt(approval, Date.now()) }),
  afterUsed: 'Nothing more was decided.',
  afterExpired: 'Nothing was decided; the caller must make the call again.',
  title: 'Approve this call?',
  intro: (person) => `${person}, a call waits for your approval: it runs only if approved, once, as shown.`,
  facts: (link) => requestFacts(link.approval),
  refuse: (link) => refusePersonDecider(link.approval, link.person),
  audit: {
    approved: 'approval.granted',
    denied: 'approval.denied',
    type: 'approval',
    via: 'approval link',
    model: 'approval',
  },
  async decide(deps, link, how) {
    const decided = await decideRequest(deps, link.approval, { ...how, within: useLink(link) });
    const rule = link.approval.rule as unknown as StoredApprovalRule;
    const given = decided.decisions.filter((d) => d.decision === 'approve').length;
    return (decided.state as string) === 'granted'
      ? 'The call is approved: it runs once, with exactly these arguments.'
      : `Your approval is recorded: ${given} of ${rule.approvals} given.`;
  },
  denied: 'The call will not run: its caller is refused, with your comment, until it expires.',
});
