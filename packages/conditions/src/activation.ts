/**
 * What a condition sees (docs/governance.md, "Conditions"): the caller, the tool and the call's arguments.
 * Names are snake_case, as in the policy documents. A field the caller does not have is absent (not null):
 * `has(caller.key_name)` tells; reading an absent field makes the condition false.
 */
export interface ConditionCaller {
  /** The API key's id, when the call came with a key. */
  key_id?: string;
  /** The API key's name. */
  key_name?: string;
  /** The OAuth token's `sub`. */
  subject?: string;
  /** The OAuth token's claims (as verified: `groups`, `tier`, `email`, …). */
  claims?: Readonly<Record<string, unknown>>;
  /** The external user the call acts as (`x-username`, or the token's user claim). */
  user?: string;
}

export interface ConditionTool {
  /** The tool's name as the caller sees it. */
  name: string;
  /** The MCP server's id. */
  server_id: string;
  /** The MCP server's name. */
  server_name?: string;
  /** The tool's MCP annotations (`readOnlyHint`, `destructiveHint`, …). */
  annotations?: Readonly<Record<string, unknown>>;
}

export interface ConditionActivation {
  caller: ConditionCaller;
  tool: ConditionTool;
  /** The call's arguments as sent (after the edge's schema check). */
  args: Readonly<Record<string, unknown>>;
}

/** The fields of `caller` and `tool` (anything else is a problem when the condition is compiled). */
export const callerFields = ['key_id', 'key_name', 'subject', 'claims', 'user'] as const;
export const toolFields = ['name', 'server_id', 'server_name', 'annotations'] as const;

/** The string fields of `caller` and `tool`: scalars, so comparing with them is cheap. */
export const scalarFields: Readonly<Record<'caller' | 'tool', ReadonlySet<string>>> = {
  caller: new Set(['key_id', 'key_name', 'subject', 'user']),
  tool: new Set(['name', 'server_id', 'server_name']),
};
