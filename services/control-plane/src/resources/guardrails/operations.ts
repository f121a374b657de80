import { guardrailActions, guardrailTargets } from '@toolplane/contracts';
import { z } from 'zod';
import { json, jsonList, noContent, problems } from '../../openapi/registry.ts';
import { operation, type Operation } from '../operation.ts';
import * as handlers from './handlers.ts';
import { CreateGuardrailBody, Detector, GuardrailParams, UpdateGuardrailBody } from './schemas.ts';

const Guardrail = z
  .object({
    id: z.uuid(),
    name: z.string(),
    description: z.string().nullable(),
    serverId: z.string().nullable(),
    tools: z.array(z.string()),
    detectors: z.array(Detector),
    action: z.enum(guardrailActions),
    enforce: z.boolean(),
    maxBytes: z.number().int().nullable(),
    on: z.array(z.enum(guardrailTargets)),
    createdAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
  })
  .strict()
  .meta({ id: 'Guardrail' });

const tags = ['guardrails'];
const audit = (verb: string) => ({ action: `guardrail.${verb}`, resource: 'guardrail' });

/**
 * Guardrails (ADR 0050): detectors the worker runs on every result of the servers and tools a guardrail applies to,
 * before the result leaves the data plane, and the edge on their calls' arguments, before anything is enqueued. Each
 * change is a new catalog version of those servers.
 */
export const guardrailsOperations: Operation[] = [
  operation({
    route: {
      method: 'post',
      path: '/guardrails',
      operationId: 'createGuardrail',
      'x-audit': audit('create'),
      tags,
      summary: 'Create a guardrail',
      description:
        'Scans the results (and, with `on: ["arguments"]`, the calls’ arguments) of every server of the workspace, of ' +
        '`serverId`, or of its `tools`, with `detectors`, and `redact`s, `block`s or `flag`s what they find; ' +
        '`enforce: false` only records what it would do. Findings name the detector, the JSON path and the action, ' +
        'never the value. 422 lists every problem (an unknown server or tool, a pattern RE2 refuses, no detector, an ' +
        'unknown or repeated target); 409 for a name already used.',
      responses: { 201: json('The guardrail.', Guardrail), ...problems(400, 403, 409, 413, 415, 422) },
    },
    body: CreateGuardrailBody.meta({ id: 'CreateGuardrailBody' }),
    handler: handlers.createGuardrail,
  }),
  operation({
    route: {
      method: 'get',
      path: '/guardrails',
      operationId: 'listGuardrails',
      tags,
      summary: 'List the workspace’s guardrails',
      responses: {
        200: jsonList(
          'The guardrails, oldest first (the order the worker applies them in).',
          Guardrail,
          'GuardrailList',
        ),
        ...problems(403),
      },
    },
    handler: handlers.listGuardrails,
  }),
  operation({
    route: {
      method: 'get',
      path: '/guardrails/{id}',
      operationId: 'getGuardrail',
      tags,
      summary: 'Get a guardrail',
      responses: { 200: json('The guardrail.', Guardrail), ...problems(403, 404) },
    },
    params: GuardrailParams,
    handler: handlers.getGuardrail,
  }),
  operation({
    route: {
      method: 'patch',
      path: '/guardrails/{id}',
      operationId: 'updateGuardrail',
      'x-audit': audit('update'),
      tags,
      summary: 'Change a guardrail (omitted fields are kept)',
      description: 'A guardrail moved to another server leaves the tools it named unless `tools` is given again.',
      responses: { 200: json('The guardrail as changed.', Guardrail), ...problems(400, 403, 404, 409, 413, 415, 422) },
    },
    params: GuardrailParams,
    body: UpdateGuardrailBody.meta({ id: 'UpdateGuardrailBody' }),
    handler: handlers.updateGuardrail,
  }),
  operation({
    route: {
      method: 'delete',
      path: '/guardrails/{id}',
      operationId: 'deleteGuardrail',
      'x-audit': audit('delete'),
      tags,
      summary: 'Delete a guardrail',
      responses: { 204: noContent, ...problems(403, 404) },
    },
    params: GuardrailParams,
    handler: handlers.deleteGuardrail,
  }),
];
