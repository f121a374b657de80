import { audited, json, pathParams, problems } from '../../openapi/registry.ts';
import { get, post, put, type Operation } from '../operation.ts';
import { fourEyes } from './four-eyes.ts';
import * as handlers from './handlers.ts';
import { createChangeRequestLink } from './links.ts';
import { ChangeApprovalSettings, ChangeRequest, ChangeRequestLink, ChangeRequests } from './openapi.ts';
import {
  CreateChangeRequestLinkBody,
  DecideChangeRequestBody,
  ListChangeRequestsQuery,
  PutChangeApprovalSettingsBody,
} from './schemas.ts';

const tags = ['change requests'];
const audit = (verb: string) => audited(`change_request.${verb}`);

/**
 * Four eyes on loosening (ADR 0079, docs/governance.md "Four eyes on loosening"): the workspace's setting, and the
 * changes that loosen a rule waiting for another person's approval (made by the guarded operations, four-eyes.ts).
 */
export const changeRequestsOperations: Operation[] = [
  ...fourEyes('change_approvals', [
    get('/change_approvals/settings', 'getChangeApprovalSettings', {
      tags,
      summary: 'Get the workspace’s four-eyes setting (off until turned on)',
      responses: { 200: json('The setting.', ChangeApprovalSettings), ...problems(403) },
      handler: handlers.getChangeApprovalSettings,
    }),
    put('/change_approvals/settings', 'putChangeApprovalSettings', {
      'x-audit': { action: 'change_approvals.update', resource: 'change_approval_settings' },
      tags,
      summary: 'Set four eyes on loosening',
      description:
        'Only a caller who may change access policies. While on, turning it off (or needing fewer approvals, other ' +
        'approvers, longer-lived requests) is itself a loosening and waits for approval (202).',
      responses: { 200: json('The setting.', ChangeApprovalSettings), ...problems(403, 413, 415, 422) },
      body: PutChangeApprovalSettingsBody,
      handler: handlers.putChangeApprovalSettings,
    }),
  ]),
  get('/change_requests', 'listChangeRequests', {
    'x-scope': 'approve',
    tags,
    summary: 'List changes waiting for (or decided by) approval',
    description: 'Newest first; `state` filters.',
    responses: { 200: json('The change requests.', ChangeRequests), ...problems(403, 422) },
    query: ListChangeRequestsQuery,
    handler: handlers.listChangeRequests,
  }),
  get('/change_requests/{id}', 'getChangeRequest', {
    'x-scope': 'approve',
    tags,
    summary: 'Get a change request',
    responses: { 200: json('The change request.', ChangeRequest), ...problems(403, 404) },
    params: pathParams('id'),
    handler: handlers.getChangeRequest,
  }),
  post('/change_requests/{id}/approve', 'approveChangeRequest', {
    'x-audit': audit('approved'),
    'x-scope': 'approve',
    tags,
    summary: 'Approve a change that loosens a rule',
    description:
      'Only an approver the setting names (none named: a caller who may change access policies), never the ' +
      'requester (403). Once `approvals` distinct approvers approved, the change is applied, once, as the requester ' +
      '(event `change_request.applied`). 409: decided, applied or expired already, or its target changed since.',
    responses: {
      200: json('The change request as decided (with `result` when applied).', ChangeRequest),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
    params: pathParams('id'),
    body: DecideChangeRequestBody,
    handler: handlers.approveChangeRequest,
  }),
  post('/change_requests/{id}/deny', 'denyChangeRequest', {
    'x-audit': audit('denied'),
    'x-scope': 'approve',
    tags,
    summary: 'Deny a change that loosens a rule',
    responses: {
      200: json('The change request as decided.', ChangeRequest),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
    params: pathParams('id'),
    body: DecideChangeRequestBody,
    handler: handlers.denyChangeRequest,
  }),
  post('/change_requests/{id}/links', 'createChangeRequestLink', {
    'x-audit': audited('change_request_link.create'),
    tags,
    summary: 'Make a person’s link to decide a change request',
    description:
      'A link for a person the four-eyes setting named when the change was made (`approvers.people`) to approve or ' +
      'deny it in their browser, as approval links are for calls: single-use, valid until the request expires, ' +
      'bound to the browser that opens it; only the SHA-256 of its token is stored. 422 for a person the setting ' +
      'did not name or who is not an external user of the workspace; 403 for the change’s requester; 409 for a ' +
      'request decided or past its expiry.',
    responses: {
      201: json('The link (give it to that person only).', ChangeRequestLink),
      ...problems(400, 403, 404, 409, 413, 415, 422),
    },
    params: pathParams('id'),
    body: CreateChangeRequestLinkBody,
    handler: createChangeRequestLink,
  }),
];
