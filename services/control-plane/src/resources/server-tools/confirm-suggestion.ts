import type { CatalogTool } from '@toolplane/contracts';

/**
 * Whether a person's confirmation of each call is suggested for a tool (ADR 0038; the dashboard pre-checks it): what
 * cannot be undone or safely sent twice: an HTTP `DELETE`, a `POST` without an idempotency key, or a tool annotated
 * `destructiveHint: true`. Only a suggestion: `confirmTools` on the server decides.
 */
export function confirmSuggested(t: CatalogTool): boolean {
  if (t.tool.annotations?.destructiveHint === true) return true;
  if (t.plan.kind !== 'http') return false;
  return t.plan.method === 'DELETE' || (t.plan.method === 'POST' && !t.plan.idempotencyKeyHeader);
}
