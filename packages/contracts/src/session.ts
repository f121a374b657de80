import { z } from 'zod';
import { ApprovalRule } from './approvals.ts';

/**
 * Rules that see the session (ADR 0078, docs/governance.md "Rules that see the session"): what a result brings into
 * the session that made the call (labels), kept in Redis per principal, and the rules that judge a call by what its
 * session already holds (after private or untrusted content, a call that sends data out needs approval).
 */

/** What a result may bring into a session: data of the company's own (`private`), content written by outsiders. */
export const resultLabels = ['private', 'untrusted'] as const;
export type ResultLabel = (typeof resultLabels)[number];

/** What a tool does with what it is sent: publishes it (`public_write`), or sends it outside (`external_write`). */
export const outboundLabels = ['public_write', 'external_write'] as const;
export type OutboundLabel = (typeof outboundLabels)[number];

/** A tool's declared data-flow labels: a connector route's, an OpenAPI operation's (`x-toolplane-labels`), … */
export const dataLabels = [...resultLabels, ...outboundLabels] as const;
export const DataLabel = z.enum(dataLabels);
export type DataLabel = z.infer<typeof DataLabel>;

export const isResultLabel = (l: string): l is ResultLabel => l === 'private' || l === 'untrusted';
export const isOutboundLabel = (l: string): l is OutboundLabel => l === 'public_write' || l === 'external_write';

/** Where a label of a session came from. */
export const labelSources = ['declared', 'classification', 'annotation', 'guardrail'] as const;
export type LabelSource = (typeof labelSources)[number];

/**
 * A session rule: once any of `after` entered the caller's session, a call of a tool labelled with any of
 * `toolLabels` is refused (`refuse`) or needs someone's approval (`require_approval`, under `approval`, by the same
 * machinery as a tool's approval rule). `enforce: false`: log only (`session.would_refuse` / `session.would_hold`).
 */
export const SessionRule = z
  .strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]{1,80}$/),
    name: z.string().min(1).max(200).optional(),
    after: z.array(z.enum(resultLabels)).min(1),
    toolLabels: z.array(z.enum(outboundLabels)).min(1),
    action: z.enum(['require_approval', 'refuse']),
    approval: ApprovalRule.optional(),
    enforce: z.boolean(),
  })
  .refine((r) => r.action !== 'require_approval' || r.approval !== undefined, {
    message: 'a rule that requires approval names its approval rule',
    path: ['approval'],
  });
export type SessionRule = z.infer<typeof SessionRule>;

/** Bounds of a session's lifetime (seconds after its last labelled call). */
export const SESSION_TTL_MIN_SECONDS = 60;
export const SESSION_TTL_MAX_SECONDS = 30 * 24 * 3600;
export const DEFAULT_SESSION_TTL_SECONDS = 24 * 3600;

/** A workspace's session settings, as edges and workers read them (inside `WorkspaceAccess`). */
export const SessionSettings = z.object({
  ttlSeconds: z.number().int().min(SESSION_TTL_MIN_SECONDS).max(SESSION_TTL_MAX_SECONDS),
  rules: z.array(SessionRule).max(50),
});
export type SessionSettings = z.infer<typeof SessionSettings>;

/**
 * What a call hands the worker so that its result's labels reach its session (`CallRules.session`): the session's
 * scopes (`sessionScopes`), its lifetime, the labels the tool's declaration and the admin's classification give every
 * result (the worker adds those of the guardrails' findings), and where the call came from.
 */
// No maximum string length here: the worker's compiled check of a job (`exactCheck`) leaves any schema with one to zod.
export const SessionOfJob = z.object({
  scopes: z.array(z.string().min(1)).min(1).max(3),
  ttlSeconds: z.number().int().min(SESSION_TTL_MIN_SECONDS).max(SESSION_TTL_MAX_SECONDS),
  labels: z
    .array(z.object({ label: z.enum(resultLabels), source: z.enum(labelSources) }))
    .max(8)
    .optional(),
  /** The MCP session, task or `run_code` program the call came through (shown with the label; never a scope). */
  via: z.string().optional(),
  /** Count the call in the session (`session.calls`): a condition of the workspace reads them. */
  countCalls: z.literal(true).optional(),
  /**
   * The session rules someone approved this call under (a workflow held by the edge because its own steps would carry
   * such content out): its steps are not refused by them. Only the edge sets it, with the approval spent.
   */
  approved: z.array(z.string().min(1)).max(50).optional(),
});
export type SessionOfJob = z.infer<typeof SessionOfJob>;

/**
 * What a session is, precisely: the principal, never what the client says of itself. A caller with an API key is
 * that key's session (`k:`); one with an OAuth token without a key, its subject's (`s:`); the external user a call
 * acts as (`x-username`, a token's user) is a session of its own (`u:`), which the call's labels reach too. An
 * anonymous caller of a public server has one per client (`a:<server>:<client>`, `anonymousClient`: the edge's digest
 * of its `Mcp-Session-Id`, else of its address: one visitor's labels no longer refuse every other visitor's
 * calls); without a client, the server's (`a:<server>`, the backtest's replay). A new `Mcp-Session-Id`, a task,
 * a program or a changed `x-username` change none of these for the same key: the key's session keeps its labels.
 */
export function sessionScopes(
  p: {
    readonly keyId?: string | undefined;
    readonly subject?: string | undefined;
    readonly userId?: string | undefined;
  },
  serverId: string,
  anonymousClient?: string,
): string[] {
  const scopes: string[] = [];
  if (p.keyId !== undefined) scopes.push(`k:${p.keyId}`);
  else if (p.subject !== undefined && p.subject !== 'anonymous') scopes.push(`s:${p.subject}`);
  else scopes.push(anonymousClient === undefined ? `a:${serverId}` : `a:${serverId}:${anonymousClient}`);
  if (p.userId !== undefined) scopes.push(`u:${p.userId}`);
  return scopes;
}

/**
 * Hash: one session scope's labels (`l:<label>` → JSON `LabelOrigin`, the latest result that brought it) and calls
 * (`c:<serverId>/<tool>` → `count:firstAt:lastAt`), expiring `ttlSeconds` after its last write. The workspace is the
 * hash tag: every scope of a call is in one slot (a Redis Cluster runs the script on one node).
 */
export function sessionKey(prefix: string, workspaceId: string, scope: string): string {
  return `${prefix}:session:{ss:${workspaceId}}:${scope}`;
}

/** Where a session's label came from: the result that brought it (record id), its tool, when, how it was found. */
export const LabelOrigin = z.object({
  label: z.enum(resultLabels),
  source: z.enum(labelSources),
  tool: z.string(),
  serverId: z.string(),
  invocationId: z.string(),
  /** Epoch ms. */
  at: z.number(),
  /** The guardrail finding's detector (`pii:card`, `prompt_injection`), for `source: "guardrail"`. */
  detector: z.string().optional(),
  via: z.string().optional(),
});
export type LabelOrigin = z.infer<typeof LabelOrigin>;

/** The labels a guardrail finding brings: personal data and secrets are private, an injection phrase untrusted. */
export function findingLabel(detector: string): ResultLabel | undefined {
  if (detector.startsWith('pii') || detector.startsWith('secrets')) return 'private';
  if (detector.startsWith('prompt_injection')) return 'untrusted';
  return undefined;
}

/** The ready-made rule of a new workspace (log only): after private or untrusted content, sending out needs approval. */
export function defaultSessionRule(approvers: ApprovalRule['approvers'], version: string): SessionRule {
  return {
    id: 'private-or-untrusted-then-send',
    name: 'Approval to send data out after private or untrusted content',
    after: ['private', 'untrusted'],
    toolLabels: ['external_write', 'public_write'],
    action: 'require_approval',
    approval: { version, approvers, approvals: 1, expiresInSeconds: 3600 },
    enforce: false,
  };
}
