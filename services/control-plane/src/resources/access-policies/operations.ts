import { json, pathParams, problems } from '../../openapi/registry.ts';
import { post, type Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import { explainAccessDecision } from './explain.ts';
import * as handlers from './handlers.ts';
import { AccessExplanation, AccessPolicy } from './openapi.ts';
import { ExplainBody, PolicyBody, UpdatePolicyBody } from './schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const tags = ['access policies'];
const rows = rowOperations({
  path: '/access_policies',
  tags,
  audit: 'access_policy',
  one: 'AccessPolicy',
  many: 'AccessPolicies',
  noun: 'policy',
  row: AccessPolicy,
  params: pathParams('id'),
});

/**
 * Access policies (ADR 0013): allow rules granting servers and tools to API keys, OAuth
 * subjects and groups, and external users. Stored here, published per workspace to Redis (publish.ts); the edge
 * decides on every tools/list and tools/call from its cached copy.
 */
export const accessPoliciesOperations: Operation[] = fourEyes('access_policy', [
  rows.create({
    summary: 'Create an access policy (an allow rule)',
    description: 'Every edge applies the workspace’s policies at once; a 422 lists every problem, references included.',
    body: PolicyBody.meta({ id: 'AccessPolicyBody' }),
    handler: handlers.createAccessPolicy,
    checksBody: 'handler',
  }),
  rows.list({
    summary: 'List the workspace’s access policies',
    answer: 'Every policy, oldest first.',
    handler: handlers.listAccessPolicies,
  }),
  rows.get({ summary: 'Get an access policy', handler: handlers.getAccessPolicy }),
  rows.update({
    summary: 'Change an access policy (the fields given)',
    body: UpdatePolicyBody.meta({ id: 'UpdateAccessPolicyBody' }),
    handler: handlers.updateAccessPolicy,
    checksBody: 'handler',
  }),
  rows.delete({ summary: 'Delete an access policy', handler: handlers.deleteAccessPolicy }),
  // Explaining a decision reads every policy of the workspace: a key limited to servers may not (`refused`). It
  // changes nothing: no audit event.
  post('/access_policies/explain', 'explainAccessDecision', {
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
    body: ExplainBody.meta({ id: 'AccessExplanationRequest' }),
    handler: explainAccessDecision,
  }),
]);
