import { PolicyPrincipal } from '@toolplane/contracts';
import { z } from 'zod';

const Names = (what: string) =>
  z.array(z.string().min(1).max(200)).min(1, `name at least one ${what}, or ["*"]`).max(500);

export const PolicyBody = z
  .object({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, 'must be 1-100 letters, digits, ".", "-" or "_"'),
    description: z.string().max(1000).nullable().optional(),
    principals: z.array(PolicyPrincipal.strict()).min(1, 'name at least one principal').max(500),
    servers: Names('server id'),
    tools: Names('tool name'),
    condition: z
      .string()
      .min(1)
      .max(2048)
      .nullable()
      .optional()
      .describe(
        'A CEL condition over `caller`, `tool` and `args` (docs/governance.md, "Conditions"): the grant applies to a ' +
          'call only when it holds. Checked against the granted tools’ input schemas; null removes it.',
      ),
  })
  .strict();
export const UpdatePolicyBody = PolicyBody.partial().strict();
