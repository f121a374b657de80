import {
  ApprovalApprovers,
  guardrailActions,
  guardrailTargets,
  labelSources,
  PolicyPrincipal,
  resultLabels,
} from '@toolplane/contracts';
import { z } from 'zod';
import { policyOutcomes } from './schemas.ts';

const timestamp = z.iso.datetime();

/** An access policy as the API shows it (`present` in handlers.ts). */
export const AccessPolicy = z
  .strictObject({
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
    onFalse: z
      .enum(policyOutcomes)
      .describe(
        'What a false condition does: `refuse` (this policy does not grant the call) or `require_approval` (the ' +
          'call runs once someone `approval` names approved exactly that call, once).',
      ),
    approval: z
      .strictObject({
        version: z
          .string()
          .describe('Digests the policy, its condition and the rule: requests made under another are unusable.'),
        approvers: ApprovalApprovers,
        approvals: z.number().int(),
        expiresInSeconds: z.number().int(),
      })
      .nullable()
      .meta({ id: 'PolicyApprovalRule' })
      .describe('With `require_approval`: who approves, how many of them, how long a request lives (else null).'),
    enforce: z
      .boolean()
      .describe(
        'false: log only. A false condition refuses nothing and asks no approval; the edges record what it would ' +
          'have done (`access.would_refuse`).',
      ),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'AccessPolicy' });

/** A policy's condition on the explained call (`ConditionResult` of @toolplane/access). */
const ExplainedCondition = z.strictObject({
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
});

const SessionExplanation = z
  .strictObject({
    rules: z.array(
      z.strictObject({
        id: z.string(),
        name: z.string(),
        action: z.enum(['require_approval', 'refuse']),
        enforce: z.boolean().describe('false: log only (`session.would_refuse`, `session.would_hold` recorded).'),
        after: z.array(z.enum(resultLabels)),
        why: z.string().describe('One line: what sets it off, and what it does to a call of this tool.'),
      }),
    ),
    labels: z.array(z.enum(resultLabels)).describe('The labels the caller’s session holds now (all its scopes).'),
    decided_by: z
      .strictObject({
        rule: z.strictObject({ id: z.string(), name: z.string() }),
        enforce: z.boolean(),
        label: z.enum(resultLabels),
        origin: z.strictObject({
          tool: z.string(),
          server_id: z.string(),
          invocation_id: z.string().describe('The execution record of the result that brought the label.'),
          at: z.iso.datetime(),
          source: z.enum(labelSources),
          detector: z.string().optional(),
          text: z.string().describe('The origin in words, as refusals say it.'),
        }),
        why: z.string().describe('The refusal or hold the caller gets, word for word (prefixed `Log only:`).'),
      })
      .nullable()
      .describe('The rule that decides the call given the session (an enforced one first); null: none would.'),
  })
  .meta({ id: 'SessionExplanation' });

export const AccessExplanation = z
  .strictObject({
    decision: z
      .enum(['allow', 'deny', 'require_approval'])
      .describe(
        'What the edge does with this call (before it runs). require_approval: it is held, nothing enqueued, until ' +
          'someone `approval` names approves exactly this call (ADR 0049).',
      ),
    reason: z
      .string()
      .describe(
        'One sentence: what grants the call, the approval it waits for, or the refusal the edge gives, word for word.',
      ),
    approval: z
      .strictObject({
        policy: z
          .strictObject({ id: z.uuid(), name: z.string() })
          .nullable()
          .describe('The access policy whose false condition requires approval; null: the server’s rule for the tool.'),
        approvers: ApprovalApprovers,
        approvals: z.number().int().describe('How many distinct approvers must grant the request.'),
        expires_in_seconds: z.number().int().describe('How long a request (and the approval it gets) lives.'),
      })
      .nullable()
      .describe('With `require_approval`: the rule the call is held under (else null).'),
    caller: z.string().describe('The caller as refusals name it.'),
    server: z.strictObject({ id: z.uuid(), name: z.string() }),
    tool: z.string(),
    policies: z.array(
      z
        .strictObject({
          id: z.uuid(),
          name: z.string(),
          principals_match: z.boolean().describe('Whether it names the caller’s credential or the external user.'),
          matched_principals: z.array(PolicyPrincipal.strict()),
          covers_server: z.boolean(),
          covers_tool: z.boolean(),
          condition: ExplainedCondition.nullable(),
          enforce: z
            .boolean()
            .describe('false: log only, its false condition refuses nothing ("would refuse (log only)" in `why`).'),
          why: z.string().describe('One line: why it grants the call, or why not.'),
        })
        .meta({ id: 'AccessPolicyExplanation' }),
    ),
    guardrails: z
      .array(
        z
          .strictObject({
            id: z.uuid(),
            name: z.string(),
            action: z.enum(guardrailActions),
            on: z.array(z.enum(guardrailTargets)).describe('What it scans: the results, the arguments, or both.'),
            enforce: z.boolean().describe('false: log only, the caller sees no change (`would_<action>` recorded).'),
            why: z.string().describe('One line: what it does to the call, or would do (log only).'),
          })
          .meta({ id: 'GuardrailExplanation' }),
      )
      .describe('The guardrails of the server and tool the call passes through, in the order they apply (ADR 0050).'),
    quotas: z
      .array(
        z
          .strictObject({
            id: z.string(),
            name: z.string(),
            enforce: z.boolean().describe('false: log only, refuses nothing (`quota.would_refuse` recorded).'),
            why: z.string().describe('One line: what it counts the call against, and what it does past its limit.'),
          })
          .meta({ id: 'QuotaExplanation' }),
      )
      .describe(
        'The quotas the call counts against (ADR 0048), each enforced or log only; whether there is room now is the ' +
          'edge’s answer, not read here.',
      ),
    session: SessionExplanation.optional().describe(
      'Only when a session rule of the workspace applies to the tool (ADR 0078): the rules, the labels the caller’s ' +
        'session holds, and the rule that would decide the call with the earlier result whose label decides it.',
    ),
  })
  .meta({ id: 'AccessExplanation' });
