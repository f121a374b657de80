import type { Catalog, GuardrailDetector, GuardrailRule, GuardrailTarget } from '@toolplane/contracts';
import type { Tx } from '../db/client.ts';

/**
 * The guardrails that apply to a server's results and calls: the workspace's, the server's and those of some of its
 * tools, oldest first, as the worker and the edge apply them (`Catalog.guardrails`). None: the catalog carries
 * nothing, and nothing is scanned.
 */
export async function withGuardrails(tx: Tx, server: { id: string; workspaceId: string }, catalog: Catalog) {
  const rows = await tx.guardrail.findMany({
    where: { workspaceId: server.workspaceId, OR: [{ serverId: null }, { serverId: server.id }] },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  if (rows.length === 0) return catalog;
  const guardrails = rows.map(guardrailRuleOf);
  return { ...catalog, guardrails };
}

/** A guardrail row as catalogs and the edges carry it (the backtest judges by the same). */
export function guardrailRuleOf(r: {
  id: string;
  name: string;
  tools: string[];
  detectors: unknown;
  action: string;
  enforce: boolean;
  maxBytes: number | null;
  on: string[];
}): GuardrailRule {
  return {
    id: r.id,
    name: r.name,
    ...(r.tools.length > 0 ? { tools: r.tools } : {}),
    detectors: r.detectors as GuardrailDetector[],
    action: r.action as GuardrailRule['action'],
    enforce: r.enforce,
    ...(r.maxBytes !== null ? { maxBytes: r.maxBytes } : {}),
    // Results only (the default) is left out: catalogs of such guardrails stay as they were.
    ...(r.on.length === 1 && r.on[0] === 'results' ? {} : { on: r.on as GuardrailTarget[] }),
  };
}
