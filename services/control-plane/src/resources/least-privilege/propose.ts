import type { PrincipalKey, PeakRow, UseRow } from './aggregate.ts';

/** A name the API takes (`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`) made of parts. */
function proposalName(...parts: string[]): string {
  const slug = (s: string) =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9_.-]+/g, '-')
      .replace(/^[^a-z0-9]+|-+$/g, '')
      .slice(0, 30) || 'x';
  return ['least-privilege', ...parts.map(slug)].join('-').slice(0, 100);
}

/** The principal as a policy names it: the key's id, the person's name. */
const policyPrincipal = (p: PrincipalKey) => ({ type: p.type, value: p.id });

export interface PolicyProposal {
  name: string;
  description: string;
  principals: { type: PrincipalKey['type']; value: string }[];
  servers: string[];
  tools: string[];
}

/**
 * The narrowest policies that still allow every call the principal made (not counting calls access refused): one per
 * server used, naming the principal, that server and the tools called on it (a policy's tools apply to each of its
 * servers, so one policy over two servers could grant a tool on the one it was not called on).
 */
export function narrowestPolicies(
  principal: PrincipalKey & { name: string },
  use: readonly UseRow[],
  serverNames: ReadonlyMap<string, string>,
  period: string,
): PolicyProposal[] {
  const byServer = new Map<string, string[]>();
  for (const u of use) if (u.calls > 0) byServer.set(u.server_id, [...(byServer.get(u.server_id) ?? []), u.tool]);
  return [...byServer].map(([serverId, tools]) => ({
    name: proposalName(principal.name, serverNames.get(serverId) ?? serverId),
    description: `Least privilege proposed from the calls of ${period}.`,
    principals: [policyPrincipal(principal)],
    servers: [serverId],
    tools: [...new Set(tools)].sort(),
  }));
}

export interface QuotaProposal {
  window: 'hour' | 'day';
  peak: number;
  peakAt: string;
  quota: {
    name: string;
    description: string;
    match: { apiKeys?: string[]; people?: string[] };
    counts: 'calls';
    limit: number;
    window: 'hour' | 'day';
    enforce: true;
  };
}

/** A calls quota per window at the observed peak × `margin`, rounded up (at least 1). */
export function peakQuotas(
  principal: PrincipalKey & { name: string },
  peaks: readonly PeakRow[],
  margin: number,
): QuotaProposal[] {
  const order = { hour: 0, day: 1 };
  return [...peaks]
    .sort((a, b) => order[a.window] - order[b.window])
    .map((p) => ({
      window: p.window,
      peak: p.peak,
      peakAt: new Date(p.peak_at).toISOString(),
      quota: {
        name: proposalName(principal.name, `per-${p.window}`),
        description: `Proposed: the peak of ${p.peak} calls in one ${p.window} × ${margin}.`,
        match: principal.type === 'api_key' ? { apiKeys: [principal.id] } : { people: [principal.id] },
        counts: 'calls' as const,
        // Rounded to 6 decimals first: 4 × 1.1 is 4.4000000000000004, which must not round up to 5.
        limit: Math.max(1, Math.ceil(Number((p.peak * margin).toFixed(6)))),
        window: p.window,
        enforce: true as const,
      },
    }));
}
