import { PolicyPrincipal } from '@toolplane/contracts';
import { z } from 'zod';
import { ApprovalRuleBody } from '../servers/schemas.ts';

/** What a policy's false condition does: the grant does not apply, or the call waits for someone else's approval. */
export const policyOutcomes = ['refuse', 'require_approval'] as const;

const Names = (what: string) =>
  z.array(z.string().min(1).max(200)).min(1, `name at least one ${what}, or ["*"]`).max(500);

export const PolicyBody = z.strictObject({
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
  onFalse: z
    .enum(policyOutcomes)
    .optional()
    .describe(
      'What a false condition does: `refuse` (the default: this policy does not grant the call) or ' +
        '`require_approval` (the call runs once someone `approval` names approved exactly that call, once).',
    ),
  approval: ApprovalRuleBody.nullable()
    .optional()
    .describe('With `onFalse: "require_approval"`: who approves, how many of them, how long a request lives.'),
  enforce: z
    .boolean()
    .optional()
    .describe(
      'false: log only. A false condition refuses nothing and asks no approval (the call runs as if it held); ' +
        'the edges record what it would have done (`access.would_refuse` audit events). Default true.',
    ),
});
export type PolicyBody = z.output<typeof PolicyBody>;
export const UpdatePolicyBody = PolicyBody.partial().strict();

const Reference = z.string().min(1).max(200);

/** Who to explain a decision for: an API key, an OAuth subject, and/or the external user the caller acts as. */
const ExplainCaller = z
  .strictObject({
    api_key: Reference.optional().describe('An API key id: the caller calls with this key.'),
    oauth_subject: Reference.optional().describe('An OAuth token’s `sub`: the caller calls with such a token.'),
    claims: z
      .record(z.string(), z.unknown())
      .optional()
      .describe('With `oauth_subject`: the token’s claims, as conditions see them (`caller.claims`).'),
    groups: z
      .array(Reference)
      .max(500)
      .optional()
      .describe('With `oauth_subject`: the token’s groups (default: the `groups` claim).'),
    external_user: Reference.optional().describe(
      'An external user (id or name): with a key or subject, the user it acts as (`x-username`); alone, the user ' +
        'as an API key no policy names (the workspace’s own credential) acting for them.',
    ),
  })
  .superRefine((c, ctx) => {
    if (c.api_key !== undefined && c.oauth_subject !== undefined)
      ctx.addIssue({ code: 'custom', path: ['oauth_subject'], message: 'name either api_key or oauth_subject' });
    if (c.api_key === undefined && c.oauth_subject === undefined && c.external_user === undefined)
      ctx.addIssue({ code: 'custom', path: [], message: 'name api_key, oauth_subject or external_user' });
    for (const field of ['claims', 'groups'] as const)
      if (c[field] !== undefined && c.oauth_subject === undefined)
        ctx.addIssue({ code: 'custom', path: [field], message: `${field} go with oauth_subject` });
  });

export const ExplainBody = z.strictObject({
  caller: ExplainCaller,
  server: Reference.describe('The MCP server: its id or name.'),
  tool: Reference.describe('The tool’s name, as the caller sees it.'),
  arguments: z.record(z.string(), z.unknown()).optional().describe('The call’s arguments (default: none).'),
});
export type ExplainBody = z.infer<typeof ExplainBody>;
