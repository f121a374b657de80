import { randomBytes } from 'node:crypto';
import type { ApprovalApprovers } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { sha256 } from '../connect/binding.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { byId, conflict, refuseRequester, refuseRequesterPerson, stateAt } from './handlers.ts';
import type { CreateChangeRequestLinkBody } from './schemas.ts';

/** Where people's browsers reach the control plane: `PUBLIC_API_URL`, else the origin given (the request's). */
const publicBaseUrl = (publicApiUrl: string | undefined, origin: string) => publicApiUrl?.replace(/\/+$/, '') ?? origin;

/** 422 naming `/person`: the person is not an approver of this change request. */
const notNamed = (message: string) =>
  new ValidationError('the person is not an approver of this change request', [{ path: '/person', message }]);

/**
 * `POST /change_requests/{id}/links`: a person's link to decide a pending change request in their browser, as approval
 * links are for calls (ADR 0049): an opaque token of 256 random bits (only its SHA-256 stored), single-use, until the
 * request's expiry. 403 for the change's requester (the link decides as whoever holds it) and for a person who is the
 * requester (their subject); 409 for a request decided or past its expiry; 422 for a person the setting did not name
 * (`approvers.people`) or who is not in the workspace.
 */
export async function createChangeRequestLink(deps: ControlPlaneDeps, input: Input<CreateChangeRequestLinkBody>) {
  const { caller, params, body } = input;
  const row = await byId(deps.db, caller, params.id!);
  await refuseRequester(deps.db, row, caller);
  const state = stateAt(row, Date.now());
  if (state !== 'pending') throw conflict(`change request ${row.id} is ${state}: no one can decide it any more`, state);
  const people = ((row.rule as { approvers: ApprovalApprovers }).approvers.people ?? []) as string[];
  if (!people.includes(body.person))
    throw notNamed(`the four-eyes setting did not name "${body.person}" (approvers.people) when the change was made`);
  const user = await deps.db.externalUser.findUnique({
    where: { workspaceId_name: { workspaceId: row.workspaceId, name: body.person } },
    select: { id: true, name: true, externalId: true },
  });
  if (!user) throw notNamed(`no external user "${body.person}" in this workspace`);
  await refuseRequesterPerson(deps.db, row, user);
  const token = randomBytes(32).toString('base64url');
  await deps.db.changeRequestLink.create({
    data: {
      tokenHash: sha256(token),
      changeRequestId: row.id,
      userId: user.id,
      person: user.name,
      expiresAt: row.expiresAt,
    },
  });
  const base = publicBaseUrl(deps.env.PUBLIC_API_URL, input.origin ?? `http://${deps.env.HOST}:${deps.env.PORT}`);
  return { url: `${base}/approve-change/${token}`, person: user.name, expiresAt: row.expiresAt.toISOString() };
}
