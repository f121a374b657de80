/**
 * What a condition sees (docs/governance.md, "Conditions"): the caller, the tool, the call's arguments and, when the
 * edge read it, the caller's session (ADR 0078).
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

/** One tool's calls in the caller's session (`session.calls`); numbers are integers (CEL reads them as doubles). */
export interface ConditionSessionCall {
  /** The tool's name. */
  tool: string;
  /** The MCP server's id. */
  server_id: string;
  /** How many times it was called. */
  count: number;
  /** When it was first and last called (epoch milliseconds). */
  first_at: number;
  last_at: number;
  /** Whole seconds from `last_at` to the evaluation (never negative). */
  since_seconds: number;
}

/**
 * The caller's session as conditions see it (ADR 0078): the result labels it holds and the tools it called.
 * Its sizes are bounded (`sessionLimits`, session.ts); a session over them, or of another shape, makes a condition
 * that reads it false.
 */
export interface ConditionSession {
  /** The result labels the session holds (`"private"`, `"untrusted"`). */
  labels: readonly string[];
  /** The names of the tools called in the session. */
  tools_called: readonly string[];
  /** Each tool's calls in the session. */
  calls: readonly Readonly<ConditionSessionCall>[];
}

export interface ConditionActivation {
  caller: ConditionCaller;
  tool: ConditionTool;
  /** The call's arguments as sent (after the edge's schema check). */
  args: Readonly<Record<string, unknown>>;
  /** The caller's session; absent when it was not read (a condition reading `session` is then false). */
  session?: Readonly<ConditionSession>;
}

/** The fields of `caller` and `tool` (anything else is a problem when the condition is compiled). */
export const callerFields = ['key_id', 'key_name', 'subject', 'claims', 'user'] as const;
export const toolFields = ['name', 'server_id', 'server_name', 'annotations'] as const;
export const sessionFields = ['labels', 'tools_called', 'calls'] as const;
export const sessionCallFields = ['tool', 'server_id', 'count', 'first_at', 'last_at', 'since_seconds'] as const;

/** The string fields of `caller` and `tool`: scalars, so comparing with them is cheap. */
export const scalarFields: Readonly<Record<'caller' | 'tool', ReadonlySet<string>>> = {
  caller: new Set(['key_id', 'key_name', 'subject', 'user']),
  tool: new Set(['name', 'server_id', 'server_name']),
};
