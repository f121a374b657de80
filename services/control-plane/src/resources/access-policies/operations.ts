import { json, jsonList, noContent, pathParams, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import { explainAccessDecision } from './explain.ts';
import * as handlers from './handlers.ts';
import { AccessExplanation, AccessPolicy } from './openapi.ts';
import { ExplainBody, PolicyBody, UpdatePolicyBody } from './schemas.ts';

const tags = ['access policies'];

/**
 * Access policies (ADR 0013): allow rules granting servers and tools to API keys, OAuth
 * subjects and groups, and external users. Stored here, published per workspace to Redis (publish.ts); the edge
 * decides on every tools/list and tools/call from its cached copy.
 */
export const accessPoliciesOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/access_policies',
      operationId: 'createAccessPolicy',
      'x-audit': { action: 'access_policy.create', resource: 'access_policy' },
      tags,
      summary: 'Create an access policy (an allow rule)',
      description:
        'Every edge applies the workspace’s policies at once; a 422 lists every problem, references included.',
      responses: {
        201: json('The policy.', AccessPolicy),
        ...problems(400, 403, 409, 413, 415, 422),
      },
    },
    body: PolicyBody.meta({ id: 'AccessPolicyBody' }),
    handler: handlers.createAccessPolicy,
    checksBody: 'handler',
  }),
  operation({
    route: {
      method: 'get',
      path: '/access_policies',
      operationId: 'listAccessPolicies',
      tags,
      summary: 'List the workspace’s access policies',
      responses: { 200: jsonList('Every policy, oldest first.', AccessPolicy), ...problems(403) },
    },
    handler: handlers.listAccessPolicies,
  }),
  operation({
    route: {
      method: 'get',
      path: '/access_policies/{id}',
      operationId: 'getAccessPolicy',
      tags,
      summary: 'Get an access policy',
      responses: { 200: json('The policy.', AccessPolicy), ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.getAccessPolicy,
  }),
  operation({
    route: {
      method: 'patch',
      path: '/access_policies/{id}',
      operationId: 'updateAccessPolicy',
      'x-audit': { action: 'access_policy.update', resource: 'access_policy' },
      tags,
      summary: 'Change an access policy (the fields given)',
      responses: {
        200: json('The policy as changed.', AccessPolicy),
        ...problems(400, 403, 404, 409, 413, 415, 422),
      },
    },
    params: pathParams('id'),
    body: UpdatePolicyBody.meta({ id: 'UpdateAccessPolicyBody' }),
    handler: handlers.updateAccessPolicy,
    checksBody: 'handler',
  }),
  operation({
    route: {
      method: 'delete',
      path: '/access_policies/{id}',
      operationId: 'deleteAccessPolicy',
      'x-audit': { action: 'access_policy.delete', resource: 'access_policy' },
      tags,
      summary: 'Delete an access policy',
      responses: { 204: noContent, ...problems(403, 404) },
    },
    params: pathParams('id'),
    handler: handlers.deleteAccessPolicy,
  }),
  // Explaining a decision reads every policy of the workspace: a key limited to servers may not (`refused`). It
  // changes nothing: no audit event.
  operation({
    route: {
      method: 'post',
      path: '/access_policies/explain',
      operationId: 'explainAccessDecision',
      tags,
      summary: 'Explain the access decision for a caller, a tool and arguments',
      description:
        'The decision the edge makes for the call (by the same code, on the policies the edges have) and how each ' +
        'policy of the workspace reads it: principals, server, tool and condition. A caller, server or tool the ' +
        'workspace does not have is a 422 naming it. The arguments are not checked against the tool’s input schema ' +
        '(the edge does that before access conditions).',
      'x-server-limited-keys': 'refused',
      'x-audit': false,
      responses: {
        200: json('The decision and each policy’s part in it.', AccessExplanation),
        ...problems(403, 413, 415, 422),
      },
    },
    body: ExplainBody.meta({ id: 'AccessExplanationRequest' }),
    handler: explainAccessDecision,
  }),
];
