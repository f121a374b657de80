import { audited, json, jsonList, problems } from '../../openapi/registry.ts';
import { get, post, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { createApprovalLink } from './links.ts';
import {
  Approval,
  ApprovalLink,
  ApprovalParams,
  CreateApprovalLinkBody,
  DecideApprovalBody,
  ListApprovalsQuery,
} from './schemas.ts';

const tags = ['approvals'];
const audit = (verb: string) => audited(`approval.${verb}`);

const decideDescription = (what: string) =>
  `${what} Only an approver the server’s \`approvalRule\` names may decide, never the caller of the call (same key, ` +
  'same subject: 403). 409 for a request decided already (a replay, two approvers racing: one decides), past its ' +
  'expiry, or made under a rule that changed since.';

/**
 * Approval requests (ADR 0049): calls of a server's `approvalTools` waiting for someone else's approval. The edges
 * make them; approvers decide here, and the decision reaches every edge through Redis.
 */
export const approvalsOperations: Operation[] = [
  get('/approvals', 'listApprovals', {
    'x-server-limited-keys': 'filtered',
    'x-scope': 'approve',
    tags,
    summary: 'List approval requests',
    description: 'Newest first; `state` filters. Arguments are shown with secret values masked.',
    responses: { 200: jsonList('The requests.', Approval, 'ApprovalList'), ...problems(403, 422) },
    query: ListApprovalsQuery,
    handler: handlers.listApprovals,
  }),
  get('/approvals/{id}', 'getApproval', {
    'x-server-limited-keys': 'filtered',
    'x-scope': 'approve',
    tags,
    summary: 'Get an approval request',
    responses: { 200: json('The request.', Approval), ...problems(403, 404) },
    params: ApprovalParams,
    handler: handlers.getApproval,
  }),
  post('/approvals/{id}/approve', 'approveApproval', {
    'x-audit': audit('granted'),
    'x-server-limited-keys': 'filtered',
    'x-scope': 'approve',
    tags,
    summary: 'Approve a call',
    description: decideDescription(
      'Each approval is an event `approval.granted`; the request is granted (its `state`) once `approvals` distinct ' +
        'approvers approved it, and the caller’s next call with the same arguments then runs, once.',
    ),
    responses: { 200: json('The request as decided.', Approval), ...problems(400, 403, 404, 409, 413, 415, 422) },
    params: ApprovalParams,
    body: DecideApprovalBody,
    handler: handlers.approveApproval,
  }),
  post('/approvals/{id}/deny', 'denyApproval', {
    'x-audit': audit('denied'),
    'x-server-limited-keys': 'filtered',
    'x-scope': 'approve',
    tags,
    summary: 'Deny a call',
    description: decideDescription(
      'One denial decides (event `approval.denied`): the caller’s retries are refused with it until the request ' +
        'expires.',
    ),
    responses: { 200: json('The request as decided.', Approval), ...problems(400, 403, 404, 409, 413, 415, 422) },
    params: ApprovalParams,
    body: DecideApprovalBody,
    handler: handlers.denyApproval,
  }),
  post('/approvals/{id}/links', 'createApprovalLink', {
    'x-audit': audited('approval_link.create'),
    'x-server-limited-keys': 'filtered',
    tags,
    summary: 'Make a person’s approval link',
    description:
      'A link for a person the request’s rule names (`approvers.people`) to approve or deny it in their browser: ' +
      'single-use, valid until the request expires, bound to the browser that opens it. Only the SHA-256 of its ' +
      'token is stored. 422 for a person the rule does not name; 403 for the caller of the call (its key or ' +
      'subject) and for the person the call was made for; 409 for a request decided, spent or past its expiry.',
    responses: {
      201: json('The link (give it to that person only).', ApprovalLink),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
    params: ApprovalParams,
    body: CreateApprovalLinkBody,
    handler: createApprovalLink,
  }),
];
