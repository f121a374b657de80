import { ExecutionRecordV1, GuardrailFinding, labelSources, RecordReceipt, resultLabels } from '@toolplane/contracts';
import { z } from 'zod';
import { queryDateParam } from '../../openapi/registry.ts';
import { ListQuery } from './schemas.ts';

const timestamp = z.iso.datetime();

/** An execution record in the list (`presentRecord(row, false)` in present.ts). */
export const ExecutionRecordSummary = z
  .strictObject({
    id: z.uuid().describe('The invocation id.'),
    server_id: z.uuid(),
    catalog_version: z.number().int(),
    tool: z.string(),
    parent_invocation_id: z
      .uuid()
      .nullable()
      .describe(
        'A call a `run_code` program made (code mode): the program’s invocation id, the id of its own record; null ' +
          'for other calls.',
      ),
    caller: z.strictObject({
      key_id: z.string().nullable(),
      key_name: z.string().nullable().describe('The API key’s name; null for a token caller or a deleted key.'),
      subject: z.string().nullable().describe('OAuth subject of a token caller (`anonymous` on a public server).'),
      username: z.string().nullable().describe('The external user the call was made for.'),
      acting_via: z
        .string()
        .nullable()
        .describe('Why the caller could act as `username`: an access policy id, `unnamed-key` or `token-user`.'),
      delegation: z
        .object({ token_id: z.string(), actors: z.array(z.string()), grant_id: z.string().optional() })
        .optional()
        .describe(
          'Only for a call made with a narrowed token (ADR 0084): the token’s id and the chain of actors, root ' +
            'first (`api_key:<key id>`, then each holder by the name it was given); `grant_id`: the task grant ' +
            'the token was redeemed from (ADR 0108), if one.',
        ),
    }),
    started_at: timestamp,
    duration_ms: z.number(),
    outcome: ExecutionRecordV1.shape.outcome,
    error_code: z.string().nullable(),
    message: z.string().nullable(),
    trace_id: z.string().nullable().describe('OpenTelemetry trace id; null when tracing was off.'),
    twin: z.boolean().describe('A call the staging twin answered (ADR 0112): nothing reached the upstream.'),
    guardrails: z
      .array(GuardrailFinding.meta({ id: 'GuardrailFinding' }))
      .describe(
        'What the call’s guardrails found in its result and, at the edge, in its arguments (`on: "arguments"`: a call ' +
          'they refused, or one that went on redacted, flagged or in log-only mode): ' +
          'guardrail, detector, JSON path, action (`would_*` in log-only mode); never the value.',
      ),
    shape: z
      .strictObject({ bytes_before: z.number().int(), bytes_after: z.number().int() })
      .nullable()
      .describe(
        'A result shaped for models (the server’s `config.resultShapes`, ADR 0052): the JSON text’s bytes before and ' +
          'after the projection and item cap; null when the result was not shaped.',
      ),
    cached: z
      .boolean()
      .describe(
        'The edge answered the call from the result cache (the server’s `config.resultCache`): nothing reached the ' +
          'upstream, the call has no step.',
      ),
    labels: z
      .array(
        z.strictObject({
          label: z.enum(resultLabels),
          source: z.enum(labelSources),
          detector: z.string().optional().describe('The guardrail finding’s detector (`source: "guardrail"`).'),
        }),
      )
      .describe(
        'What the result brought into the caller’s session (ADR 0078): the tool’s declared or classified labels and ' +
          'one per guardrail finding; empty when the call keeps no session or brought nothing.',
      ),
  })
  .meta({ id: 'ExecutionRecordSummary' });

/** One execution record with its steps (`presentRecord(row, true)`). */
export const ExecutionRecord = ExecutionRecordSummary.extend({
  steps: z.array(z.unknown()).describe('The requests made, in order (never bodies, never secret values).'),
  tree: z
    .array(z.unknown())
    .nullable()
    .describe('Workflow calls: the run as a tree (`flow.run` → `step.run` → `action.run`); null for other tools.'),
  debug: z
    .record(z.string(), z.unknown())
    .nullable()
    .describe('Only for calls made during a debug session: redacted headers and size-capped, redacted bodies.'),
  receipt: RecordReceipt.nullable().describe(
    'The call’s receipt signed by the worker (ADR 0111, docs/security.md “Receipts”: verify it with ' +
      '`toolplane receipts verify` against `/.well-known/toolplane-receipt-keys`) and the salts that disclose its ' +
      'arguments and result; null when the worker had no signing key or the edge recorded the call.',
  ),
})
  .strict()
  .meta({ id: 'ExecutionRecord' });

/**
 * The list's query: ListQuery itself, with descriptions (zod-to-openapi shows a coerced date as
 * nullable; in a query string it is a date-time or a date).
 */
export const ListExecutionRecordsQuery = ListQuery.extend({
  from: ListQuery.shape.from.meta(queryDateParam('Records started at or after this time (inclusive).')),
  to: ListQuery.shape.to.meta(queryDateParam('Records started before this time (exclusive).')),
  limit: ListQuery.shape.limit.meta({ description: 'Records per page.' }),
  cursor: ListQuery.shape.cursor.meta({ description: 'The previous page’s `next_cursor`.' }),
  key_id: ListQuery.shape.key_id.meta({ description: 'Calls made with this API key (its id).' }),
  subject: ListQuery.shape.subject.meta({ description: 'Calls made with an access token of this OAuth subject.' }),
  username: ListQuery.shape.username.meta({ description: 'Calls made for this external user.' }),
  parent_invocation_id: ListQuery.shape.parent_invocation_id.meta({
    description: 'The calls a `run_code` program made (code mode): the program’s invocation id (its record’s id).',
  }),
  twin: ListQuery.shape.twin.meta({
    description: '`true`: the calls the staging twin answered (ADR 0112); otherwise, by default, production’s.',
  }),
  guardrail_action: ListQuery.shape.guardrail_action.meta({
    description:
      'Calls with a guardrail finding of this action (in `guardrails`); `would_*`: any finding of a log-only ' +
      'guardrail (`would_redact`, `would_block`, `would_flag`).',
  }),
});
