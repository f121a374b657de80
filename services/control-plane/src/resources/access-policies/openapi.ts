import { PolicyPrincipal } from '@toolplane/contracts';
import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { ExplainBody, PolicyBody, UpdatePolicyBody } from './schemas.ts';

const timestamp = z.iso.datetime();

/** An access policy as the API shows it (`present` in handlers.ts). */
const AccessPolicy = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    principals: z
      .array(PolicyPrincipal.strict())
      .describe('Who the policy grants: API keys, OAuth subjects and groups, external users.'),
    servers: z.array(z.string()).describe('Server ids, or `["*"]` for every server.'),
    tools: z.array(z.string()).describe('Tool names, or `["*"]` for every tool.'),
    condition: z
      .string()
      .nullable()
      .describe('A CEL condition: the grant applies to a call only when it holds (null: always).'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .strict()
  .meta({ id: 'AccessPolicy' });

const tags = ['access policies'];

/** A policy's condition on the explained call (`ConditionResult` of @toolplane/access). */
const ExplainedCondition = z
  .object({
    expression: z.string(),
    result: z
      .boolean()
      .nullable()
      .describe('Whether it holds for the call; null: not evaluated (the policy does not apply to the call).'),
    error: z
      .string()
      .nullable()
      .describe('What made it false when that was an error: a missing argument, another type, data over the limits.'),
    failed: z.string().nullable().describe('The part of the condition that was not true.'),
  })
  .strict();

const AccessExplanation = z
  .object({
    decision: z.enum(['allow', 'deny']).describe('What the edge does with this call (before it runs).'),
    reason: z.string().describe('One sentence: what grants the call, or the refusal the edge gives, word for word.'),
    caller: z.string().describe('The caller as refusals name it.'),
    server: z.object({ id: z.uuid(), name: z.string() }).strict(),
    tool: z.string(),
    policies: z.array(
      z
        .object({
          id: z.uuid(),
          name: z.string(),
          principals_match: z.boolean().describe('Whether it names the caller’s credential or the external user.'),
          matched_principals: z.array(PolicyPrincipal.strict()),
          covers_server: z.boolean(),
          covers_tool: z.boolean(),
          condition: ExplainedCondition.nullable(),
          why: z.string().describe('One line: why it grants the call, or why not.'),
        })
        .strict()
        .meta({ id: 'AccessPolicyExplanation' }),
    ),
  })
  .strict()
  .meta({ id: 'AccessExplanation' });

/** Explaining a decision reads every policy of the workspace: a key limited to servers may not (`refused`). */
const explainRoute: RouteDoc = {
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
  request: { body: jsonBody(ExplainBody.meta({ id: 'AccessExplanationRequest' })) },
  responses: {
    200: json('The decision and each policy’s part in it.', AccessExplanation),
    ...problems(403, 413, 415, 422),
  },
};

/** The access-policies routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const accessPoliciesRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/access_policies',
    operationId: 'createAccessPolicy',
    'x-audit': { action: 'access_policy.create', resource: 'access_policy' },
    tags,
    summary: 'Create an access policy (an allow rule)',
    description: 'Every edge applies the workspace’s policies at once; a 422 lists every problem, references included.',
    request: { body: jsonBody(PolicyBody.meta({ id: 'AccessPolicyBody' })) },
    responses: {
      201: json('The policy.', AccessPolicy),
      ...problems(400, 403, 409, 413, 415, 422),
    },
  },
  {
    method: 'get',
    path: '/access_policies',
    operationId: 'listAccessPolicies',
    tags,
    summary: 'List the workspace’s access policies',
    responses: {
      200: json('Every policy, oldest first.', z.object({ data: z.array(AccessPolicy) }).strict()),
      ...problems(403),
    },
  },
  {
    method: 'get',
    path: '/access_policies/{id}',
    operationId: 'getAccessPolicy',
    tags,
    summary: 'Get an access policy',
    request: { params: pathParams('id') },
    responses: { 200: json('The policy.', AccessPolicy), ...problems(403, 404) },
  },
  {
    method: 'patch',
    path: '/access_policies/{id}',
    operationId: 'updateAccessPolicy',
    'x-audit': { action: 'access_policy.update', resource: 'access_policy' },
    tags,
    summary: 'Change an access policy (the fields given)',
    request: { params: pathParams('id'), body: jsonBody(UpdatePolicyBody.meta({ id: 'UpdateAccessPolicyBody' })) },
    responses: { 200: json('The policy as changed.', AccessPolicy), ...problems(400, 403, 404, 409, 413, 415, 422) },
  },
  {
    method: 'delete',
    path: '/access_policies/{id}',
    operationId: 'deleteAccessPolicy',
    'x-audit': { action: 'access_policy.delete', resource: 'access_policy' },
    tags,
    summary: 'Delete an access policy',
    request: { params: pathParams('id') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
  explainRoute,
];
