import type { Tx } from '../../db/client.ts';
import { decisionPage, factsHtml } from '../connect/decision-page.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { conflict, decideRow, present, stateAt } from './handlers.ts';

const findLink = (deps: ControlPlaneDeps, tokenHash: string) =>
  deps.db.changeRequestLink.findUnique({ where: { tokenHash }, include: { changeRequest: true } });
type Link = NonNullable<Awaited<ReturnType<typeof findLink>>>;

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
  return factsHtml(facts, 'The change', shown.body ?? null);
}

/** Uses the link up in the decision's transaction: decided once, or not at all. */
const useLink = (link: Link) => async (tx: Tx) => {
  const used = await tx.changeRequestLink.updateMany({
    where: { id: link.id, usedAt: null },
    data: { usedAt: new Date() },
  });
  if (used.count === 0) throw conflict('this link was used already: it decides once', link.changeRequest.state);
};

/**
 * People's pages to decide a change request (ADR 0079), as approval pages are for calls (ADR 0049), made by
 * `POST /change_requests/{id}/links`: `GET /approve-change/{token}` shows the change and a form,
 * `POST /approve-change/{token}` decides it through the same code as the API's approvers (the row lock, the 409s,
 * the stale check, the replay once approved).
 */
export const changeRequestPage = decisionPage<Link>({
  findLink,
  request: ({ changeRequest }) => ({ ...changeRequest, state: stateAt(changeRequest, Date.now()) }),
  title: 'Approve this change?',
  intro: (person) => `${person}, a change that loosens a rule waits for your approval: it is applied only if approved.`,
  facts: changeFacts,
  audit: {
    approved: 'change_request.approved',
    denied: 'change_request.denied',
    type: 'change_request',
    via: 'change request link',
    model: 'changeRequest',
  },
  async decide(deps, link, { comment, ...how }) {
    const decided = await decideRow(deps, link.changeRequest, {
      ...how,
      comment: comment ?? null,
      within: useLink(link),
    });
    const given = decided.decisions.filter((d) => d.decision === 'approve').length;
    return (decided.state as string) === 'applied'
      ? 'The change is approved and applied, once, exactly as shown.'
      : `Your approval is recorded: ${given} of ${decided.approvals} given.`;
  },
  denied: 'The change will not be applied.',
});
