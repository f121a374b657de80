import { stringify } from 'yaml';
import { fileOf } from '../workspace-files/specs.ts';
import type { LeastPrivilegeEntry } from './report.ts';

const yaml = (value: unknown) => stringify(value, { lineWidth: 0 });

/**
 * A principal's proposal as workspace files (docs/gitops.md), as `GET /workspace_files` would export them once
 * applied: `access-policies/<name>.yaml` per narrowest policy, `quotas/<name>.yaml` per peak quota, servers and API
 * keys by name. A policy on a server deleted since, or naming a key deleted since, is left out (said in `notes`).
 */
export function proposalFiles(e: LeastPrivilegeEntry) {
  const notes: string[] = [];
  const keyName = e.principal.type === 'api_key' ? e.principal.name : undefined;
  const keyGone =
    e.principal.type === 'api_key' && e.granted.servers.length === 0 && e.principal.name === e.principal.id;
  if (keyGone) notes.push(`API key ${e.principal.id} no longer exists: nothing to propose for it`);
  const serverName = (id: string) => e.used.servers.find((s) => s.id === id)?.name ?? null;
  const files = [];
  for (const p of keyGone ? [] : e.policies) {
    const server = serverName(p.servers[0]!);
    if (server === null) {
      notes.push(`server ${p.servers[0]} no longer exists: no policy for its calls`);
      continue;
    }
    const spec = {
      name: p.name,
      description: p.description,
      principals: p.principals.map((x) => ({ type: x.type, value: keyName ?? x.value })),
      servers: [server],
      tools: p.tools,
      condition: null,
      onFalse: 'refuse',
      approval: null,
      enforce: true,
    };
    files.push({ path: fileOf('access_policy', p.name), content: yaml(spec) });
  }
  for (const { quota } of keyGone ? [] : e.quotas) {
    const match = keyName ? { apiKeys: [keyName] } : quota.match;
    const spec = { ...quota, match, timeZone: null, per: null, alertWebhookUrl: null };
    files.push({ path: fileOf('quota', quota.name), content: yaml(spec) });
  }
  const wider = e.granted.grantedBy.filter((name) => !e.policies.some((p) => p.name === name));
  if (wider.length > 0)
    notes.push(
      `the policies ${wider.join(', ')} grant this principal too (grants add up): narrow or delete them for the ` +
        'proposal to take effect',
    );
  if (e.granted.unrestricted)
    notes.push('no policy names this API key (it may call everything): the proposed policies name it, which limits it');
  return { principal: e.principal, files, notes };
}
