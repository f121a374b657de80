import { ApprovalApprovers } from '@toolplane/contracts';
import { z } from 'zod';
import { changeRequestStates } from './schemas.ts';

export const ChangeApprovalSettings = z
  .object({
    enabled: z.boolean(),
    approvers: ApprovalApprovers,
    approvals: z.number().int(),
    expiresInSeconds: z.number().int(),
    updatedAt: z.string().nullable(),
  })
  .meta({ id: 'ChangeApprovalSettings' });

const Actor = z.object({ type: z.string(), id: z.string().nullable(), name: z.string().nullable() });

export const ChangeRequest = z
  .object({
    id: z.string(),
    state: z.enum(changeRequestStates),
    operation: z.string().describe('`PATCH /quotas/<id>`: what is applied once approved.'),
    body: z.unknown().describe('The request’s body, as its handler read it (absent: a deletion).'),
    bodyDigest: z.string(),
    loosens: z.array(z.string()),
    requester: Actor,
    approvers: ApprovalApprovers,
    approvals: z.number().int(),
    decisions: z.array(
      z.object({
        approver: Actor,
        decision: z.enum(['approve', 'deny']),
        comment: z.string().nullable(),
        at: z.string(),
      }),
    ),
    requestedAt: z.string(),
    expiresAt: z.string(),
    decidedAt: z.string().nullable(),
    appliedAt: z.string().nullable(),
    result: z.unknown().optional().describe('When applied by this decision: what the operation answered.'),
  })
  .meta({ id: 'ChangeRequest' });

export const ChangeRequests = z.object({ data: z.array(ChangeRequest) }).meta({ id: 'ChangeRequests' });

/** The 202 of a guarded change (four-eyes.ts): problem+json-like, naming what it loosens and its change request. */
export const WaitsForApprovalAnswer = z
  .object({
    status: z.literal('waits_for_approval'),
    type: z.string(),
    title: z.string(),
    detail: z.string(),
    loosens: z.array(z.string()),
    changeRequest: z.object({ id: z.string(), expiresAt: z.string(), approvers: ApprovalApprovers }),
    key: z
      .string()
      .optional()
      .describe(
        'An API key’s creation only: the new key’s value, shown once and to the requester alone. The key works once ' +
          'the creation is approved; no approver sees it.',
      ),
  })
  .meta({ id: 'WaitsForApproval' });

export const ChangeRequestLink = z
  .object({
    url: z
      .string()
      .describe(
        '`<PUBLIC_API_URL>/approve-change/<token>` (unset: the request’s origin): the person’s page, single-use, ' +
          'bound to the browser that opens it. Give it to that person only: whoever holds it decides as them.',
      ),
    person: z.string(),
    expiresAt: z.string().describe('The change request’s expiry: the link is worth nothing after it.'),
  })
  .meta({ id: 'ChangeRequestLink' });
