import { GuardrailDetector, guardrailActions, guardrailTargets } from '@toolplane/contracts';
import { patternProblems } from '@toolplane/guardrails';
import { z } from 'zod';

/** A detector and its options, as the API names the component. */
export const Detector = GuardrailDetector.meta({ id: 'GuardrailDetector' });

const guardrailFields = {
  name: z.string().min(1).max(200),
  description: z.string().max(1000).nullable().optional(),
  serverId: z
    .string()
    .nullable()
    .optional()
    .describe('The server whose results it scans; absent or null: every server of the workspace.'),
  tools: z
    .array(z.string().min(1).max(200))
    .max(200)
    .optional()
    .describe('With `serverId`: only these tools of the server; absent or empty: all its tools.'),
  detectors: z
    .array(Detector)
    .min(1)
    .max(10)
    .describe(
      '`secrets` (known credential shapes, and the call’s own credentials unless `ownSecrets: false`), `pii` ' +
        '(`types`: email, phone, iban, card, national_id; `countries`: US, GB, FR), `prompt_injection` (a documented ' +
        'list, plus RE2 `patterns`), `custom` (RE2 `patterns`, an optional `label`).',
    ),
  action: z
    .enum(guardrailActions)
    .describe(
      '`redact` replaces each match, `block` withholds the whole result (a tool error), `flag` returns it as is with ' +
        '`_meta["toolplane/guardrails"]`.',
    ),
  on: z
    .array(z.enum(guardrailTargets))
    .min(1)
    .max(2)
    .refine((on) => new Set(on).size === on.length, 'each target once')
    .optional()
    .describe(
      'What it scans: `results` (in the worker, before a result leaves the data plane) and/or `arguments` (at the ' +
        'edge, before a call is enqueued: `block` refuses the call, `redact` sends the arguments with each match ' +
        'replaced). Absent: `["results"]`.',
    ),
  enforce: z.boolean().optional().describe('false: log only, the caller sees no change; records say `would_<action>`.'),
  maxBytes: z
    .number()
    .int()
    .min(1)
    .max(64 * 1024 * 1024)
    .nullable()
    .optional()
    .describe(
      'A result (or a call’s arguments) with more bytes of text is blocked unscanned; absent: the worker’s ' +
        'GUARDRAIL_MAX_SCAN_BYTES (the edge scans arguments whole: their size is bounded by the request’s).',
    ),
};

/**
 * Every pattern RE2 refuses (a backreference, a lookaround: what could take more than linear time), at its path; a
 * guardrail's workspace file is checked with it too.
 */
export function checkPatterns(g: { detectors?: GuardrailDetector[] | undefined }, ctx: z.RefinementCtx): void {
  (g.detectors ?? []).forEach((d, i) => {
    if (d.kind !== 'custom' && d.kind !== 'prompt_injection') return;
    for (const p of patternProblems(d.patterns ?? []))
      ctx.addIssue({ code: 'custom', path: ['detectors', i, 'patterns', p.index], message: p.message });
  });
}

export const CreateGuardrailBody = z.strictObject(guardrailFields).superRefine((g, ctx) => {
  if (g.tools?.length && !g.serverId)
    ctx.addIssue({ code: 'custom', path: ['tools'], message: 'tools are named with the server that exposes them' });
  checkPatterns(g, ctx);
});
export type CreateGuardrailBody = z.output<typeof CreateGuardrailBody>;

/** A change: the fields given replace the guardrail's. */
export const UpdateGuardrailBody = z
  .strictObject(
    Object.fromEntries(Object.entries(guardrailFields).map(([k, v]) => [k, v.optional()])) as {
      [K in keyof typeof guardrailFields]: z.ZodOptional<(typeof guardrailFields)[K]>;
    },
  )
  .superRefine(checkPatterns);
export type UpdateGuardrailBody = z.output<typeof UpdateGuardrailBody>;

export const GuardrailParams = z.object({ id: z.string().describe('The guardrail’s id.') });
