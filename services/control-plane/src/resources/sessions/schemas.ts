import {
  DEFAULT_SESSION_TTL_SECONDS,
  outboundLabels,
  resultLabels,
  SESSION_TTL_MAX_SECONDS,
  SESSION_TTL_MIN_SECONDS,
} from '@toolplane/contracts';
import { z } from 'zod';
import { ApprovalRuleBody } from '../servers/schemas.ts';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/**
 * A session rule as the API and the workspace files take it (contracts `SessionRule`): its approval rule without a
 * version (the control plane computes it, `sessionRuleVersion`) and without webhooks.
 */
export const SessionRuleBody = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,80}$/, 'letters, digits, `_`, `.` and `-`, at most 80')
      .describe('The rule’s id in the workspace: refusals and audit events name it.'),
    name: z.string().min(1).max(200).optional().describe('What refusals call the rule.'),
    after: z
      .array(z.enum(resultLabels))
      .min(1)
      .describe('The labels of the session that set the rule off: `private`, `untrusted` (any of them).'),
    toolLabels: z
      .array(z.enum(outboundLabels))
      .min(1)
      .describe('The calls the rule judges: of tools labelled `public_write` or `external_write` (any of them).'),
    action: z
      .enum(['require_approval', 'refuse'])
      .describe('`refuse` the call, or hold it until someone `approval` names approves exactly that call.'),
    approval: ApprovalRuleBody.omit({ notify: true })
      .optional()
      .describe('Who approves a held call (`require_approval`), how many, for how long.'),
    enforce: z.boolean().describe('false: log only (`session.would_refuse`, `session.would_hold`), nothing refused.'),
  })
  // Checked even when other fields are wrong: every problem of the rule is listed at once.
  .refine((r) => r.action !== 'require_approval' || r.approval !== undefined, {
    message: 'a rule that requires approval names its approval rule',
    path: ['approval'],
    when: (payload) => isObject(payload.value),
  })
  .meta({ id: 'SessionRuleBody' });
export type SessionRuleBody = z.output<typeof SessionRuleBody>;

/** `PUT /session_settings`: the workspace's whole session settings. */
export const PutSessionSettingsBody = z
  .strictObject({
    ttlSeconds: z
      .number()
      .int()
      .min(SESSION_TTL_MIN_SECONDS)
      .max(SESSION_TTL_MAX_SECONDS)
      .default(DEFAULT_SESSION_TTL_SECONDS)
      .describe('How long a session keeps its labels after its last labelled call (seconds; 24 h by default).'),
    rules: z
      .array(SessionRuleBody)
      .max(50)
      .check(
        // Checked even when a rule is wrong otherwise: every problem is listed at once.
        z.superRefine(
          (rules: unknown[], ctx) => {
            const seen = new Set<unknown>();
            rules.forEach((r, i) => {
              const id = isObject(r) ? r.id : undefined;
              if (typeof id === 'string' && seen.has(id))
                ctx.addIssue({ code: 'custom', path: [i, 'id'], message: `rule "${id}" named twice` });
              seen.add(id);
            });
          },
          { when: (payload) => Array.isArray(payload.value) },
        ),
      )
      .describe('The session rules, in the order they are judged; none: labels are kept, nothing is judged.'),
  })
  .meta({ id: 'PutSessionSettingsBody' });
export type PutSessionSettingsBody = z.output<typeof PutSessionSettingsBody>;

/**
 * A session's scope, as `sessionScopes` names it: `k:<keyId>`, `u:<userId>`, `s:<subject>`, `a:<serverId>:<client>`
 * (an anonymous caller of a public server).
 */
export const SessionParams = z.object({
  scope: z
    .string()
    .regex(/^[kusa]:.{1,298}$/, 'k:<API key id>, u:<user>, s:<OAuth subject> or a:<server id>:<client>')
    .describe(
      'The session’s scope: `k:<API key id>`, `u:<user>`, `s:<OAuth subject>` or `a:<server id>:<client>` (an ' +
        'anonymous caller of a public server: a digest of its MCP session, else of its address).',
    ),
});
