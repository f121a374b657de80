import type { AccessPolicyRule } from '@toolplane/contracts';

/** The tools a caller may use on one server: all of them, or these names. */
export type ToolGrant = 'all' | ReadonlySet<string>;

/** What one set of principals (the credential, or the external user) is granted on one server. */
export interface GrantPart {
  /** Granted without a condition. */
  readonly unconditional: ToolGrant;
  /** Policies with a condition, by the tool names they grant (`*`: every tool); absent: none. */
  readonly rules?: ReadonlyMap<string, readonly AccessPolicyRule[]> | undefined;
}

/** The tools a part lets the caller see (and call, where a condition holds): conditional grants included. */
export function visibleTools(part: GrantPart): ToolGrant {
  const { unconditional, rules } = part;
  if (!rules || unconditional === 'all') return unconditional;
  if (rules.has('*')) return 'all';
  return new Set([...unconditional, ...rules.keys()]);
}

/**
 * The conditions a caller's calls on one server must meet: for each part (credential, external user) whose grant of
 * the tool is conditional, one clause, met when one of its policies' conditions holds. Made by `decideAccess` only
 * when some applicable policy has a condition.
 */
export class ToolConditions {
  private readonly parts: readonly GrantPart[];
  private hasLogOnly: boolean | undefined;
  constructor(parts: readonly GrantPart[]) {
    this.parts = parts;
  }

  /** Whether any of these policies is log only (`enforce: false`); read once, when a call first asks. */
  get logOnly(): boolean {
    this.hasLogOnly ??= this.parts.some(
      (p) => p.rules !== undefined && [...p.rules.values()].some((rules) => rules.some((r) => r.enforce === false)),
    );
    return this.hasLogOnly;
  }

  /** The clauses a call of `tool` must meet (each: any of these policies' conditions); empty: none. */
  clauses(tool: string): (readonly AccessPolicyRule[])[] {
    const clauses: (readonly AccessPolicyRule[])[] = [];
    for (const { unconditional, rules } of this.parts) {
      if (unconditional === 'all' || unconditional.has(tool)) continue;
      clauses.push([...(rules?.get(tool) ?? []), ...(rules?.get('*') ?? [])]);
    }
    return clauses;
  }
}
