import type { CallerIdentity, ToolConditions } from '@toolplane/access';
import type { Principal, StepCaller, WorkspaceAccess } from '@toolplane/contracts';
import type { CallDelegation } from './delegated-tokens.ts';

/**
 * What authentication resolved of one request, and all a rule reads to derive its own facts about the caller
 * (`pipeline/caller-facts.ts`): who calls, the workspace's published access document, the server. Made once per
 * request by `authenticate`, after access policies let the caller in, and never changed.
 */
export interface ResolvedCaller {
  readonly serverId: string;
  /** The job's principal: workspace, key id or subject, the person it acts as and why, a narrowed token's record. */
  readonly principal: Readonly<Principal>;
  /** The caller as access decisions saw it, the person it acts as included. */
  readonly identity: CallerIdentity;
  /** The API key's name (key callers whose record has one). */
  readonly keyName: string | undefined;
  /** A verified OAuth token's claims (or a narrowed token's parent's). */
  readonly claims: Readonly<Record<string, unknown>> | undefined;
  /** The narrowed token the caller presented (ADR 0084). */
  readonly narrowed: CallDelegation | undefined;
  /** The workspace's published access document (policies, quotas, session settings). */
  readonly access: WorkspaceAccess;
  /** The grants with a condition that apply to this caller (`decideAccess`); undefined: none. */
  readonly conditions: ToolConditions | undefined;
  /**
   * An anonymous caller's own client: its MCP session, else its address, as a digest (never the address). Worked out
   * only when a rule asks; the principal then names it (its records say which, for the backtest's replay).
   */
  anonymousClient(): string;
}

/** The caller as access policies' conditions read it (`caller.*`): its key, else its OAuth subject and claims; the user. */
export function conditionCallerOf(
  who: Pick<ResolvedCaller, 'principal' | 'identity' | 'keyName' | 'claims'>,
): StepCaller['condition'] {
  const { principal: p, keyName, claims } = who;
  return {
    ...(p.keyId !== undefined ? { key_id: p.keyId } : {}),
    ...(keyName !== undefined ? { key_name: keyName } : {}),
    ...(p.keyId === undefined && !who.identity.anonymous && p.subject !== undefined ? { subject: p.subject } : {}),
    ...(claims ? { claims } : {}),
    ...(p.username !== undefined ? { user: p.username } : {}),
  };
}
