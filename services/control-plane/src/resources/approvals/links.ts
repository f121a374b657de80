import { randomBytes } from 'node:crypto';
import { ValidationError } from '@toolplane/errors';
import type { StoredApprovalRule } from '../../catalog/approvals.ts';
import type { Db, Tx } from '../../db/client.ts';
import { sha256 } from '../connect/binding.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import {
  byId,
  conflict,
  refusePersonDecider,
  refuseRequester,
  stateAt,
  type ApprovalRow,
  type StoredRequester,
} from './handlers.ts';
import type { CreateApprovalLinkBody } from './schemas.ts';

/** A person's approval link: their page (`<base>/approve/<token>`), who it is for, and when it is worth nothing. */
export interface PersonApprovalLink {
  url: string;
  person: string;
  expiresAt: string;
}

/** Where people's browsers reach the control plane: `PUBLIC_API_URL`, else the origin given (the request's). */
const publicBaseUrl = (publicApiUrl: string | undefined, origin: string) => publicApiUrl?.replace(/\/+$/, '') ?? origin;

/**
 * A new link for `user` to decide `row`: an opaque token of 256 random bits, of which only its SHA-256 is stored; it
 * lives as long as the request.
 */
async function makeLink(
  db: Db | Tx,
  row: Pick<ApprovalRow, 'id' | 'expiresAt'>,
  user: { id: string; name: string },
  baseUrl: string,
): Promise<PersonApprovalLink> {
  const token = randomBytes(32).toString('base64url');
  await db.approvalLink.create({
    data: {
      tokenHash: sha256(token),
      approvalId: row.id,
      userId: user.id,
      person: user.name,
      expiresAt: row.expiresAt,
    },
  });
  return { url: `${baseUrl}/approve/${token}`, person: user.name, expiresAt: row.expiresAt.toISOString() };
}

/**
 * `POST /approvals/{id}/links`: a person's link to decide a pending request in their browser. 403 for the caller of
 * the call (its key or subject: it would decide its own call as that person) and for the person the call was made
 * for; 409 for a request no longer pending or past its expiry; 422 for a person the request's rule does not name.
 */
export async function createApprovalLink(deps: ControlPlaneDeps, input: Input<CreateApprovalLinkBody>) {
  const { caller, params, body } = input;
  const row = await byId(deps.db, caller, params.id!);
  refuseRequester(row, caller);
  const state = stateAt(row, Date.now());
  if (state !== 'pending')
    throw conflict(`approval request ${row.id} is ${state}: no one can decide it any more`, state);
  const people = (row.rule as unknown as StoredApprovalRule).approvers.people ?? [];
  if (!people.includes(body.person))
    throw new ValidationError('the person is not an approver of this request', [
      { path: '/person', message: `the request's rule does not name "${body.person}" (approvers.people)` },
    ]);
  refusePersonDecider(row, body.person);
  const user = await deps.db.externalUser.findUnique({
    where: { workspaceId_name: { workspaceId: row.workspaceId, name: body.person } },
    select: { id: true, name: true },
  });
  if (!user)
    throw new ValidationError('the person is not an approver of this request', [
      { path: '/person', message: `no external user "${body.person}" in this workspace` },
    ]);
  const base = publicBaseUrl(deps.env.PUBLIC_API_URL, input.origin ?? `http://${deps.env.HOST}:${deps.env.PORT}`);
  return makeLink(deps.db, row, user, base);
}

/**
 * One link per person a pending request's rule names (for the request's notification), but the person the call was
 * made for; people no longer in the workspace get none. None for a request decided or past its expiry. `baseUrl`:
 * where people reach the control plane (`PUBLIC_API_URL`, else where it listens), without a trailing slash. @public
 */
export async function personApprovalLinks(
  db: Db | Tx,
  approvalId: string,
  baseUrl: string,
): Promise<PersonApprovalLink[]> {
  const row = await db.approval.findUnique({ where: { id: approvalId } });
  if (!row || stateAt(row, Date.now()) !== 'pending') return [];
  const requester = (row.requester as StoredRequester).person;
  const named = ((row.rule as unknown as StoredApprovalRule).approvers.people ?? []).filter((p) => p !== requester);
  if (named.length === 0) return [];
  const users = await db.externalUser.findMany({
    where: { workspaceId: row.workspaceId, name: { in: named } },
    select: { id: true, name: true },
    orderBy: { name: 'asc' },
  });
  const links: PersonApprovalLink[] = [];
  for (const user of users) links.push(await makeLink(db, row, user, baseUrl));
  return links;
}
