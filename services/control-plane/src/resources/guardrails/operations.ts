import { guardrailActions, guardrailTargets } from '@toolplane/contracts';
import { z } from 'zod';
import type { Operation } from '../operation.ts';
import { rowOperations } from '../row-operations.ts';
import * as handlers from './handlers.ts';
import { CreateGuardrailBody, Detector, GuardrailParams, UpdateGuardrailBody } from './schemas.ts';
import { fourEyes } from '../change-requests/four-eyes.ts';

const Guardrail = z
  .strictObject({
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
  .meta({ id: 'Guardrail' });

const rows = rowOperations({
  path: '/guardrails',
  tags: ['guardrails'],
  audit: 'guardrail',
  one: 'Guardrail',
  many: 'Guardrails',
  noun: 'guardrail',
  row: Guardrail,
  params: GuardrailParams,
  listId: 'GuardrailList',
});

/**
 * Guardrails (ADR 0050): detectors the worker runs on every result of the servers and tools a guardrail applies to,
 * before the result leaves the data plane, and the edge on their calls' arguments, before anything is enqueued. Each
 * change is a new catalog version of those servers.
 */
export const guardrailsOperations: Operation[] = fourEyes('guardrail', [
  rows.create({
    summary: 'Create a guardrail',
    description:
      'Scans the results (and, with `on: ["arguments"]`, the calls’ arguments) of every server of the workspace, of ' +
      '`serverId`, or of its `tools`, with `detectors`, and `redact`s, `block`s or `flag`s what they find; ' +
      '`enforce: false` only records what it would do. Findings name the detector, the JSON path and the action, ' +
      'never the value. 422 lists every problem (an unknown server or tool, a pattern RE2 refuses, no detector, an ' +
      'unknown or repeated target); 409 for a name already used.',
    body: CreateGuardrailBody.meta({ id: 'CreateGuardrailBody' }),
    handler: handlers.createGuardrail,
  }),
  rows.list({
    summary: 'List the workspace’s guardrails',
    answer: 'The guardrails, oldest first (the order the worker applies them in).',
    handler: handlers.listGuardrails,
  }),
  rows.get({ summary: 'Get a guardrail', handler: handlers.getGuardrail }),
  rows.update({
    summary: 'Change a guardrail (omitted fields are kept)',
    description: 'A guardrail moved to another server leaves the tools it named unless `tools` is given again.',
    body: UpdateGuardrailBody.meta({ id: 'UpdateGuardrailBody' }),
    handler: handlers.updateGuardrail,
  }),
  rows.delete({ summary: 'Delete a guardrail', handler: handlers.deleteGuardrail }),
]);
