import { PolicyPrincipal } from '@toolplane/contracts';
import { z } from 'zod';
import { json, jsonBody, noContent, pathParams, problems, type RouteDoc } from '../../openapi/registry.ts';
import { PolicyBody, UpdatePolicyBody } from './schemas.ts';

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

/** The access-policies routes, for the OpenAPI document (services/control-plane/src/openapi/document.ts). */
export const accessPoliciesRoutes: RouteDoc[] = [
  {
    method: 'post',
    path: '/access_policies',
    operationId: 'createAccessPolicy',
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
    tags,
    summary: 'Change an access policy (the fields given)',
    request: { params: pathParams('id'), body: jsonBody(UpdatePolicyBody.meta({ id: 'UpdateAccessPolicyBody' })) },
    responses: { 200: json('The policy as changed.', AccessPolicy), ...problems(400, 403, 404, 409, 413, 415, 422) },
  },
  {
    method: 'delete',
    path: '/access_policies/{id}',
    operationId: 'deleteAccessPolicy',
    tags,
    summary: 'Delete an access policy',
    request: { params: pathParams('id') },
    responses: { 204: noContent, ...problems(403, 404) },
  },
];
