import { ApprovalApprovers, MAX_APPROVAL_SECONDS } from '@toolplane/contracts';
import { z } from 'zod';
import { personLinkBody } from '../connect/schemas.ts';

/** `PUT /change_approvals/settings`: four eyes on loosening (ADR 0079). */
export const PutChangeApprovalSettingsBody = z
  .strictObject({
    enabled: z.boolean().describe('On: a change that loosens a rule waits for another person’s approval.'),
    approvers: ApprovalApprovers.default({}).describe(
      'Who may approve (API key ids, OAuth subjects, groups). None named: any caller who may change access policies.',
    ),
    approvals: z.number().int().min(1).max(10).default(1).describe('How many distinct approvers must approve.'),
    expiresInSeconds: z
      .number()
      .int()
      .min(60)
      .max(MAX_APPROVAL_SECONDS)
      .default(86_400)
      .describe('How long a change request waits.'),
  })
  .meta({ id: 'PutChangeApprovalSettingsBody' });
export type PutChangeApprovalSettingsBody = z.output<typeof PutChangeApprovalSettingsBody>;

export const changeRequestStates = ['pending', 'approved', 'applied', 'denied', 'expired', 'stale', 'failed'] as const;

export const ListChangeRequestsQuery = z.object({
  state: z.enum(changeRequestStates).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type ListChangeRequestsQuery = z.output<typeof ListChangeRequestsQuery>;

export const DecideChangeRequestBody = z
  .strictObject({ comment: z.string().max(1000).optional() })
  .meta({ id: 'DecideChangeRequestBody' });
export type DecideChangeRequestBody = z.output<typeof DecideChangeRequestBody>;

export const CreateChangeRequestLinkBody = personLinkBody(
  'The person (external user) the link is for: one the four-eyes setting named (`approvers.people`).',
).meta({ id: 'CreateChangeRequestLinkBody' });
export type CreateChangeRequestLinkBody = z.output<typeof CreateChangeRequestLinkBody>;
