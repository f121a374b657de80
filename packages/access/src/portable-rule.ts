import type { Principal, TaskGrant } from '@toolplane/contracts';
import type { z } from 'zod';
import type { PolicyApprovalRule } from './policy-approval.ts';

/**
 * A portable rule (ADR 0101): a rule written once, as a module with a pure check, that every path it declares in the
 * one list of rules (`rules.ts`) runs through that path's one generic adapter (the edge's stage, the worker's step
 * check): no path keeps an implementation of its own. Its settings are a server's (`ruleSettings.<name>`, checked by
 * the rule's own schema when saved and published with the server's catalog); what it needs of the caller is its own
 * facet, derived by the rule from the caller's principal (never by the authenticator); its check reads the call's
 * arguments, the tool, the settings and the facet, and lets the call go on, refuses it, or, in log-only mode, says
 * what it would have refused.
 */

/** Who calls, as a portable rule sees them: the principal the edge resolved, whatever the path. */
export interface RuleCaller {
  /** The API key the call came with. */
  readonly keyId?: string | undefined;
  /** The person (external user) the call runs for, by name. */
  readonly person?: string | undefined;
  /** The OAuth subject of a signed-in caller. */
  readonly subject?: string | undefined;
  /** The task grant the caller's narrowed token was redeemed from (ADR 0108); absent: none. */
  readonly grant?: GrantStanding | undefined;
}

/** A caller's task grant: the id its token carries, and the grant as published (absent: none is known by that id). */
export interface GrantStanding {
  readonly id: string;
  readonly grant?: TaskGrant | undefined;
}

/**
 * The caller of a principal (a call's at the edge, a workflow's at the worker); `grants`, the workspace's published task
 * grants, resolve the grant its token carries (a path that has none to give makes such a caller's grant unknown).
 */
export const ruleCallerOf = (
  p: Pick<Principal, 'keyId' | 'username' | 'subject' | 'delegation'>,
  grants?: readonly TaskGrant[],
): RuleCaller => {
  const grantId = p.delegation?.grantId;
  return {
    keyId: p.keyId,
    person: p.username,
    subject: p.subject,
    ...(grantId !== undefined ? { grant: { id: grantId, grant: grants?.find((g) => g.id === grantId) } } : {}),
  };
};

/** The tool a rule judges a call of: its name and input schema. */
export interface RuleTool {
  readonly name: string;
  readonly inputSchema: unknown;
}

/** What a portable rule's check reads of one call. */
interface RuleFacts<S, F> {
  /** The arguments as the call sends them (after the guardrails on arguments). */
  readonly args: Readonly<Record<string, unknown>>;
  readonly tool: RuleTool;
  /** The server's settings for the rule, as its schema parsed them. */
  readonly settings: S;
  /** The caller's facet, as the rule derived it. */
  readonly facet: F;
}

/** Why a rule refuses a call: the code of its record, and a message the model can act on (never a secret). */
interface RuleRefusal {
  readonly code: string;
  readonly message: string;
  /** What the call broke, named in the audit event (a rule's own words, never an argument's value). */
  readonly violated?: string | undefined;
}

/**
 * A portable rule's verdict: go on (undefined), refused, would have been refused (log-only: the call goes on), or held
 * for someone's approval of exactly this call (a path that cannot hold a call refuses it with the same words).
 */
export type RuleDecision =
  | undefined
  | { readonly refuse: RuleRefusal }
  | { readonly wouldRefuse: RuleRefusal }
  | { readonly hold: RuleRefusal & { readonly approval: PolicyApprovalRule } };

/** The refusal a decision carries (a hold's, on a path that cannot hold), and whether it stops the call there. */
export function refusalOf(decision: NonNullable<RuleDecision>): { refusal: RuleRefusal; stops: boolean } {
  if ('refuse' in decision) return { refusal: decision.refuse, stops: true };
  if ('hold' in decision) return { refusal: decision.hold, stops: true };
  return { refusal: decision.wouldRefuse, stops: false };
}

export interface PortableRule<S = unknown, F = unknown> {
  /** Its name in the one list of rules, and its key in a server's `ruleSettings`. */
  readonly name: string;
  /** Its settings, as a server stores them: checked when saved, parsed again where the catalog is read. */
  readonly settings: z.ZodType<S>;
  /**
   * Its settings on a server that sets none, for a rule that meets every server's tools (the task grant, whose data is
   * the caller's); absent: a server without its setting never meets it.
   */
  readonly unset?: S;
  /** Whether calls of this tool meet the rule at all (worked out once per catalog version: others pay nothing). */
  appliesTo(tool: RuleTool, settings: S): boolean;
  /** What it needs to know of the caller, derived from the principal (`callerFacet` keeps it per call). */
  facet(caller: RuleCaller, settings: S): F;
  /** The check itself: pure, synchronous, never throws. */
  check(facts: RuleFacts<S, F>): RuleDecision;
  /**
   * The fields of its settings a change loosens (four eyes, ADR 0079): `prev` undefined is a first setting, `next`
   * undefined a removal. Tightening names nothing.
   */
  loosened(prev: S | undefined, next: S | undefined): string[];
}

/** A portable rule with its types checked against each other, erased for the list. */
export const portableRule = <S, F>(rule: PortableRule<S, F>): PortableRule => rule as unknown as PortableRule;

/**
 * The facets of one call's caller, each derived once by its rule and only when the rule runs (the typed registry the
 * paths hand each rule's check, instead of facts the authenticator computes for every call).
 */
export class CallerFacets {
  private readonly made = new Map<string, unknown>();
  readonly caller: RuleCaller;
  constructor(caller: RuleCaller) {
    this.caller = caller;
  }

  of<S, F>(rule: PortableRule<S, F>, settings: S): F {
    if (this.made.has(rule.name)) return this.made.get(rule.name) as F;
    const facet = rule.facet(this.caller, settings);
    this.made.set(rule.name, facet);
    return facet;
  }
}

/** A server's settings for a rule, parsed by its schema; `undefined`: none set; `invalid`: set but unreadable. */
export function settingsFor(rule: PortableRule, all: unknown): { settings: unknown } | 'invalid' | undefined {
  if (all === null || typeof all !== 'object' || !(rule.name in all))
    return rule.unset !== undefined ? { settings: rule.unset } : undefined;
  const parsed = rule.settings.safeParse((all as Record<string, unknown>)[rule.name]);
  return parsed.success ? { settings: parsed.data } : 'invalid';
}

/**
 * Judges one call by one portable rule with the server's settings for it: its decision. Settings that do not parse (a
 * catalog published by another version) refuse the call: a rule that cannot be read never lets a call through.
 */
export function judgePortable(
  rule: PortableRule,
  settings: { settings: unknown } | 'invalid',
  call: { args: Readonly<Record<string, unknown>>; tool: RuleTool; facets: CallerFacets },
): RuleDecision {
  if (settings === 'invalid')
    return {
      refuse: {
        code: `${rule.name}.unavailable`,
        message: `The settings of the rule "${rule.name}" on this server could not be read: nothing was sent.`,
      },
    };
  const facet = call.facets.of(rule, settings.settings);
  try {
    return rule.check({ args: call.args, tool: call.tool, settings: settings.settings, facet });
  } catch {
    return { refuse: { code: `${rule.name}.failed`, message: `The rule "${rule.name}" failed: nothing was sent.` } };
  }
}

/**
 * A decision other than "go on", as a path without approvals (the events') records it: refused or log-only, with the
 * rule's code and message; a hold refuses there.
 */
export function decisionOutcome(decision: NonNullable<RuleDecision>) {
  const { refusal, stops: refused } = refusalOf(decision);
  const { code, message } = refusal;
  return { refused, code, message, kind: refused ? ('refused' as const) : ('would_refuse' as const) };
}

/** One problem of a server's `ruleSettings`, at its JSON pointer. */
export interface RuleSettingsProblem {
  readonly path: string;
  readonly message: string;
}

/** Every problem of a server's `ruleSettings` against the portable rules' own schemas (an unknown rule's name too). */
export function ruleSettingsProblems(
  portable: readonly PortableRule[],
  value: Readonly<Record<string, unknown>>,
): RuleSettingsProblem[] {
  const byName = new Map(portable.map((r) => [r.name, r]));
  return Object.entries(value).flatMap(([name, settings]) => {
    const rule = byName.get(name);
    const at = `/ruleSettings/${name.replace(/~/g, '~0').replace(/\//g, '~1')}`;
    if (!rule)
      return [
        { path: at, message: `no rule is named "${name}" (rules with settings: ${[...byName.keys()].join(', ')})` },
      ];
    const parsed = rule.settings.safeParse(settings);
    if (parsed.success) return [];
    return parsed.error.issues.map((i) => ({
      path: [at, ...i.path.map((p) => String(p).replace(/~/g, '~0').replace(/\//g, '~1'))].join('/'),
      message: i.message,
    }));
  });
}

/** The `ruleSettings` fields a change loosens, each `ruleSettings.<rule>.<field>`, by each rule's own judgement. */
export function ruleSettingsLoosened(portable: readonly PortableRule[], prev: unknown, next: unknown): string[] {
  const read = (v: unknown, rule: PortableRule) => {
    const s = settingsFor(rule, v);
    return s === undefined || s === 'invalid' ? undefined : s.settings;
  };
  return portable.flatMap((rule) => {
    const before = read(prev, rule);
    if (before === undefined) return [];
    return rule.loosened(before, read(next, rule)).map((field) => `ruleSettings.${rule.name}.${field}`);
  });
}
