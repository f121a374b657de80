/**
 * Conditional grants (ADR 0036, docs/governance.md "Conditions") as the edge checks them before the enqueue: the
 * implementation is `@toolplane/access` (shared with the control plane's explanations); a loaded catalog and tool are
 * its server and tool, and a policy's condition is compiled once per published document and loaded tool.
 */
export { conditionRefusal, failedClauses, shadowRefusals, type CallConditions } from '@toolplane/access';
