/**
 * The bounds on a condition (ADR 0035). A condition is refused when saved if its text or AST is larger
 * than these, or if its worst case, with every list, map and string it iterates, searches or reads at
 * the sizes below, costs more than `costBudget` units (about one AST node evaluation each). At run time
 * the data are checked against the same sizes first: a value over them makes the condition false
 * (the grant does not apply), so the worst case estimated when saved is the worst case that can run.
 */
export const conditionLimits = {
  /** Characters of condition text. */
  maxTextLength: 2048,
  /** AST nodes (the library's own limit, checked while parsing). */
  maxAstNodes: 256,
  /** Nesting depth (the library's own limit). */
  maxDepth: 32,
  /** Elements of a list literal, entries of a map literal. */
  maxLiteralEntries: 64,
  /** Characters of a `matches` pattern (a string literal, run by an RE2 engine: linear time). */
  maxPatternLength: 128,
  /**
   * Elements of a list (or keys of a map) that a condition iterates or searches with `in`, unless the input schema
   * says fewer (`maxItems`, `maxProperties`).
   */
  maxListSize: 1000,
  /** Characters of a string a condition reads with a string function, unless the input schema says fewer (`maxLength`). */
  maxStringLength: 16_384,
  /** Characters of the string fields of `caller` and `tool` (ids, names, subject, user). */
  maxIdentityLength: 512,
  /** The session's labels (`session.labels`: `private`, `untrusted`), and the characters of each. */
  maxSessionLabels: 2,
  maxSessionLabelLength: 32,
  /** Tools a session counts (`session.calls`, `session.tools_called`), and the characters of a tool's name or server id there. */
  maxSessionCalls: 200,
  maxSessionNameLength: 128,
  /** Characters of a string tested with `matches`. */
  maxMatchLength: 1024,
  /** Nodes of a list or map compared with `==`, `!=` or `in` to another value that is not a literal or a known scalar. */
  maxComparedValueNodes: 16,
  /**
   * The worst-case cost a condition may have, in units: about one AST node evaluation, 18-23 ns on the
   * project's 2-core build VM when quiet (comprehensions over 1,000 elements, RE2 on 1,024 characters),
   * several times that under load. So a condition runs in at most ~0.5 ms on a quiet VM.
   */
  costBudget: 20_000,
} as const;
