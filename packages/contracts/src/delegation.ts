import { z } from 'zod';

/**
 * Narrowed tokens for sub-agents (delegation, ADR 0084, docs/identity.md "Narrowed tokens for sub-agents"): a caller trades its credential
 * at the edge's token endpoint (RFC 8693 token exchange) for a short-lived token carrying a subset of its rights. The
 * token is opaque (`tpd_` and 256 random bits); what it carries is this record, kept in Redis under the SHA-256 of the
 * token until it expires, read by every edge. Nothing here is a secret: the parent key is named by its id and the hash
 * the control plane already publishes; an OAuth parent by its subject and verified claims, never the token.
 */

/** How a narrowed token starts: the edge tells it from an OAuth access token by this. */
export const DELEGATED_TOKEN_PREFIX = 'tpd_';

/** The longest a narrowed token lives (seconds), whatever is asked; never past its parent either. */
export const DELEGATED_TOKEN_MAX_TTL_SECONDS = 3600;

/** RFC 8693 §4.1 `act`: the current actor, and in its own `act` the one before it (the chain, newest first). */
export interface ActClaim {
  readonly sub: string;
  readonly act?: ActClaim | undefined;
}
export const ActClaim: z.ZodType<ActClaim> = z.lazy(() =>
  z.object({ sub: z.string().min(1).max(200), act: ActClaim.optional() }),
);

/** A token's own limit on calls, by the token it belongs to: a child's calls count against every ancestor's too. */
export const DelegationLimit = z.object({ jti: z.string(), calls: z.number().int().min(0) });
export type DelegationLimit = z.infer<typeof DelegationLimit>;

/**
 * The credential at the root of a chain: an API key (checked on every call: revoked, every token of it fails), or an
 * OAuth access token of the edge's issuer for the token's one server (its subject, groups and verified claims; the
 * chain lives no longer than it).
 */
export const DelegationParent = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('key'), keyId: z.string(), keyHash: z.string() }),
  z.object({
    kind: z.literal('oauth'),
    subject: z.string(),
    groups: z.array(z.string()),
    claims: z.record(z.string(), z.unknown()),
    /** The token's user claim (`OAUTH_USER_CLAIM`), when it names one. */
    tokenUser: z.string().optional(),
  }),
]);
export type DelegationParent = z.infer<typeof DelegationParent>;

/** What a narrowed token carries: the claims a JWT of it would hold (RFC 8693 / RFC 9068 names), and its rights. */
export const DelegatedToken = z.object({
  v: z.literal(1),
  /** The token's id (never the token): named by its children, its records and audit events. */
  jti: z.string(),
  workspaceId: z.string(),
  /** The subject the token acts for: `api_key:<keyId>`, or `oauth_subject:<sub>`. */
  sub: z.string(),
  /** The credential at the root of the chain. */
  parent: DelegationParent,
  /** The ids of the tokens from the root down to this one (this one's last): a child of a child names both. */
  chain: z.array(z.string()).min(1),
  /** Who holds it, and who held the token it was narrowed from (RFC 8693 §4.1). */
  act: ActClaim,
  /** Issued at and expires at, in seconds since the epoch. */
  iat: z.number().int(),
  exp: z.number().int(),
  /** The servers it reaches (ids); null: every server its parent reaches. */
  servers: z.array(z.string()).nullable(),
  /** The tools it may call (names); null: every tool its parent may call. */
  tools: z.array(z.string()).nullable(),
  /** CEL conditions on each call (`args`, `tool`, `caller`), its own and its ancestors': every one must hold. */
  conditions: z.array(z.string()),
  /** Limits on calls of this token and of its ancestors: a call is charged to each. */
  limits: z.array(DelegationLimit),
  /**
   * A sender-constrained token (RFC 9449 DPoP): the RFC 7638 SHA-256 thumbprint of the key whose proof must come with
   * each request (and with each exchange of the token); absent: a bearer token.
   */
  cnf: z.object({ jkt: z.string() }).optional(),
  /** The task grant it was redeemed from (ADR 0108): each call is held to it; absent: none. */
  grant: z.string().optional(),
});
export type DelegatedToken = z.infer<typeof DelegatedToken>;

/**
 * What a token asks to narrow to: the one entry of RFC 9396 `authorization_details` of type `toolplane_delegation`
 * in the exchange. Each field left out keeps what the subject token has.
 */
export const DelegationRequest = z
  .object({
    type: z.literal('toolplane_delegation'),
    servers: z.array(z.string().min(1).max(200)).min(1).max(100).optional(),
    tools: z.array(z.string().min(1).max(200)).min(1).max(500).optional(),
    condition: z.string().min(1).max(2000).optional(),
    calls: z.number().int().min(0).max(1_000_000).optional(),
    /** Lifetime asked for, in seconds (capped at `DELEGATED_TOKEN_MAX_TTL_SECONDS` and the parent's expiry). */
    expires_in: z.number().int().min(1).optional(),
    /** The name of the actor the token is for (a sub-agent), for its `act` claim; default `token:<jti>`. */
    actor: z.string().min(1).max(200).optional(),
    /** A task grant to redeem (ADR 0108): the token carries its id, each call is held to it and spends its budget. */
    grant: z.string().min(1).max(200).optional(),
  })
  .strict();
export type DelegationRequest = z.infer<typeof DelegationRequest>;

/** The actors of a token, root first: its subject, then each holder down to the current one. */
export function delegationActors(token: Pick<DelegatedToken, 'sub' | 'act'>): string[] {
  const holders: string[] = [];
  for (let a: ActClaim | undefined = token.act; a; a = a.act) holders.unshift(a.sub);
  return [token.sub, ...holders];
}

/** Where narrowed tokens live in Redis. */
export function delegationKeys(prefix: string) {
  return {
    /** String (JSON `DelegatedToken`, expiring with it): a token's record, by the SHA-256 of the token (hex). */
    token: (tokenHash: string) => `${prefix}:delegation:token:${tokenHash}`,
    /** String (a counter, expiring with the token): the calls charged to a token with a limit. */
    calls: (jti: string) => `${prefix}:delegation:calls:${jti}`,
    /** String (`1`, expiring after the token would have): a token revoked (RFC 7009); its descendants name it too. */
    revoked: (jti: string) => `${prefix}:delegation:revoked:${jti}`,
  } as const;
}
