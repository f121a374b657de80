import { z } from 'zod';

/**
 * Guardrails: detectors run by the worker on every result before it leaves the data plane, and by the edge on a
 * call's arguments before anything is enqueued, each guardrail with one action. Set per workspace, server or tool;
 * published inside each server's catalog (`Catalog.guardrails`), so a workspace without any costs nothing.
 */

export const guardrailActions = ['redact', 'block', 'flag'] as const;

/** What a guardrail scans: tool results (in the worker) and/or a call's arguments (at the edge). */
export const guardrailTargets = ['results', 'arguments'] as const;
export type GuardrailTarget = (typeof guardrailTargets)[number];

/** Personal data the `pii` detector knows. */
export const piiTypes = ['email', 'phone', 'iban', 'card', 'national_id'] as const;
export type PiiType = (typeof piiTypes)[number];

/** Countries whose national identifiers the `pii` detector knows (US SSN, UK NINO, French NIR). */
export const nationalIdCountries = ['US', 'GB', 'FR'] as const;

/** A custom pattern: RE2 syntax (linear time), refused when saved if RE2 refuses it. */
const Re2Pattern = z.string().min(1).max(1000);

export const GuardrailDetector = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('secrets'),
    /** The credentials of the call itself (those the worker sent upstream), echoed back. Default true. */
    ownSecrets: z.boolean().optional(),
  }),
  z.strictObject({
    kind: z.literal('pii'),
    /** Absent: all of them. */
    types: z.array(z.enum(piiTypes)).min(1).optional(),
    /** Whose national identifiers (`national_id`); absent: all known. */
    countries: z.array(z.enum(nationalIdCountries)).min(1).optional(),
  }),
  z.strictObject({
    kind: z.literal('prompt_injection'),
    /** Patterns (RE2) added to the documented list. */
    patterns: z.array(Re2Pattern).max(50).optional(),
  }),
  z.strictObject({
    kind: z.literal('custom'),
    /** What a finding names (`custom:<label>`); absent: `custom`. */
    label: z
      .string()
      .regex(/^[a-z0-9_-]{1,40}$/)
      .optional(),
    patterns: z.array(Re2Pattern).min(1).max(50),
  }),
]);
export type GuardrailDetector = z.infer<typeof GuardrailDetector>;

/** A guardrail as the worker applies it (one entry of `Catalog.guardrails`). */
export const GuardrailRule = z.object({
  id: z.string(),
  name: z.string(),
  /** The tools it applies to; absent: every tool of the server (and its resources and prompts). */
  tools: z.array(z.string()).optional(),
  detectors: z.array(GuardrailDetector).min(1),
  action: z.enum(guardrailActions),
  /** false: log only (the caller sees no change; records say `would_<action>`). */
  enforce: z.boolean(),
  /** A result with more than this many bytes of text is blocked unscanned; absent: the worker's default. */
  maxBytes: z.number().int().positive().optional(),
  /** What it scans; absent: results only. */
  on: z.array(z.enum(guardrailTargets)).min(1).optional(),
});
export type GuardrailRule = z.infer<typeof GuardrailRule>;

/** What a finding did: the action, or, for a guardrail in log-only mode, what it would have done. */
const guardrailOutcomes = ['redact', 'block', 'flag', 'would_redact', 'would_block', 'would_flag'] as const;

/** One finding: which guardrail and detector, where (a JSON path); never the matched value. */
export const GuardrailFinding = z.object({
  guardrail: z.string(),
  /** `secrets:aws_access_key_id`, `pii:card`, `prompt_injection`, `custom:<label>`, `size` (over the limit). */
  detector: z.string(),
  path: z.string(),
  action: z.enum(guardrailOutcomes),
  /** What was scanned: `arguments` for a finding in the call's arguments (at the edge); absent: the result. */
  on: z.literal('arguments').optional(),
  /** The guardrail's id, on findings in arguments (they travel in the call's job). */
  guardrailId: z.string().optional(),
});
export type GuardrailFinding = z.infer<typeof GuardrailFinding>;
