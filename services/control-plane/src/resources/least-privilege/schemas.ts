import { z } from 'zod';
import { QueryDate } from '../../http/query-date.ts';

/** `api_key:<id>` or `external_user:<name>`: one principal of the answer. */
const PrincipalRef = z.string().transform((text, ctx) => {
  const m = /^(api_key|external_user):([^\0\n]{1,200})$/.exec(text);
  if (!m) {
    ctx.addIssue({ code: 'custom', message: 'must be api_key:<key id> or external_user:<name>' });
    return z.NEVER;
  }
  return { type: m[1] as 'api_key' | 'external_user', id: m[2]! };
});

const queryFields = {
  from: QueryDate.optional().meta({
    description: 'The period’s start (ISO 8601, UTC without an offset), included; default 7 days before `to`.',
  }),
  to: QueryDate.optional().meta({ description: 'The period’s end, excluded; default now.' }),
  margin: z.coerce
    .number()
    .min(1)
    .max(100)
    .default(1.5)
    .meta({ description: 'Proposed quotas: the observed peak × this, rounded up (default 1.5).' }),
};

export const LeastPrivilegeQuery = z.object({
  ...queryFields,
  principal: PrincipalRef.optional().meta({
    description: 'Only this principal: `api_key:<key id>` or `external_user:<name>`.',
  }),
});
export type LeastPrivilegeQuery = z.output<typeof LeastPrivilegeQuery>;

export const ProposalQuery = z.object({
  ...queryFields,
  principal: PrincipalRef.meta({ description: 'The principal: `api_key:<key id>` or `external_user:<name>`.' }),
});
export type ProposalQuery = z.output<typeof ProposalQuery>;
