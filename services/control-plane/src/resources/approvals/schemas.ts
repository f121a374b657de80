import { ApprovalApprovers, approvalStates, labelSources, resultLabels } from '@toolplane/contracts';
import { z } from 'zod';
import { personLinkBody } from '../connect/schemas.ts';

export const ApprovalParams = z.object({ id: z.string().describe('The approval request’s id.') });

export const ListApprovalsQuery = z.object({
  state: z
    .enum(approvalStates)
    .optional()
    .describe('Only requests in this state (a request past its time is expired).'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
export type ListApprovalsQuery = z.output<typeof ListApprovalsQuery>;

export const DecideApprovalBody = z
  .strictObject({
    comment: z.string().max(1000).optional().describe('Why: shown with the decision (a denial’s to the caller too).'),
  })
  .meta({ id: 'DecideApprovalBody' });
export type DecideApprovalBody = z.output<typeof DecideApprovalBody>;

/** Who a request or decision names: an API key, an OAuth subject or a person (external user). */
const Party = z
  .strictObject({ type: z.string(), id: z.string().nullable(), name: z.string().nullable() })
  .meta({ id: 'ApprovalParty' });

/**
 * Why a session rule held the call (ADR 0078): its words, and the earlier result whose label decided (never a value;
 * the MCP session or task it came through is not kept). `at`: epoch ms in the edge's event, an ISO time once stored.
 */
const sessionOrigin = <T extends z.ZodType>(at: T) =>
  z.object({
    label: z.enum(resultLabels),
    source: z.enum(labelSources),
    tool: z.string(),
    serverId: z.string(),
    invocationId: z.string().describe('The execution record of the result that brought the label.'),
    at,
    detector: z.string().optional().describe('The guardrail finding’s detector (`source: "guardrail"`).'),
    rule: z.string().describe('The session rule’s id.'),
  });
const RequestedSession = z.object({ reason: z.string().max(4000), origin: sessionOrigin(z.number()) });

/** The task grant that held the call (ADR 0108, 0113): its id and purpose, and what the call violates of it. */
const HeldByGrant = z.object({
  id: z.string().max(200),
  purpose: z.string().max(2000),
  violated: z.string().max(2000),
});

/** What the edge's `approval.requested` event says of the call (details), made into a row by the control plane. */
export const RequestedDetails = z.object({
  approval: z.object({ id: z.uuid(), binding: z.string().min(1), expiresAt: z.iso.datetime() }),
  server: z.object({ id: z.uuid(), name: z.string() }),
  tool: z.string(),
  argumentsDigest: z.string(),
  arguments: z.record(z.string(), z.unknown()),
  /** Every credential of the caller: the self-approval check compares each. */
  requester: z.object({
    keyId: z.string().optional(),
    subject: z.string().optional(),
    person: z.string().optional(),
  }),
  rule: z.object({
    version: z.string(),
    approvers: ApprovalApprovers,
    approvals: z.number().int().positive(),
    expiresInSeconds: z.number().int().positive(),
    // A malformed reason never costs the request its row: it is left out.
    session: RequestedSession.optional().catch(undefined),
    taskGrant: HeldByGrant.optional().catch(undefined),
  }),
});
export type RequestedDetails = z.infer<typeof RequestedDetails>;

export const Approval = z
  .strictObject({
    id: z.uuid(),
    state: z.enum(approvalStates),
    server: z.strictObject({ id: z.uuid(), name: z.string() }),
    tool: z.string(),
    arguments: z
      .record(z.string(), z.unknown())
      .describe('The call’s arguments, secret values masked as the confirmation prompt masks them.'),
    argumentsDigest: z.string().describe('SHA-256 of the server, the tool and the exact arguments.'),
    requester: Party.describe('Who called (a person acting through a key is named as the person).'),
    rule: z.strictObject({
      version: z.string(),
      approvers: ApprovalApprovers,
      approvals: z.number().int(),
      expiresInSeconds: z.number().int(),
      session: z
        .strictObject({
          reason: z.string().describe('The session rule’s words: the rule and the earlier result that decided.'),
          origin: sessionOrigin(z.iso.datetime()).strict(),
        })
        .optional()
        .describe(
          'A call held by a session rule (ADR 0078): why, and the earlier result whose label decided (its tool, ' +
            'execution record and time, how the label was found). Absent for other requests.',
        ),
      taskGrant: z
        .strictObject({ id: z.string(), purpose: z.string(), violated: z.string() })
        .optional()
        .describe(
          'A call held by a task grant (ADR 0108): the grant’s id and purpose, and what the call violates of it ' +
            '(a bound’s name, `tools`, `expiry`, or `calls`: past its budget). Absent for other requests.',
        ),
    }),
    decisions: z.array(
      z.strictObject({
        approver: Party,
        decision: z.enum(['approve', 'deny']),
        comment: z.string().nullable(),
        at: z.iso.datetime(),
      }),
    ),
    requestedAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
    decidedAt: z.iso.datetime().nullable(),
    executedAt: z.iso.datetime().nullable(),
  })
  .meta({ id: 'Approval' });
export type Approval = z.output<typeof Approval>;

export const CreateApprovalLinkBody = personLinkBody(
  'The person (external user) the link is for: one the rule names.',
).meta({ id: 'CreateApprovalLinkBody' });
export type CreateApprovalLinkBody = z.output<typeof CreateApprovalLinkBody>;

export const ApprovalLink = z
  .strictObject({
    url: z
      .string()
      .describe(
        '`<PUBLIC_API_URL>/approve/<token>` (unset: the request’s origin): the person’s page, single-use, bound to ' +
          'the browser that opens it. Give it to that person only: whoever holds it decides as them.',
      ),
    person: z.string(),
    expiresAt: z.iso.datetime().describe('The request’s expiry: the link is worth nothing after it.'),
  })
  .meta({ id: 'ApprovalLink' });
