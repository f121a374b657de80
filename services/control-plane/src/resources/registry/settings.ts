import { isIP } from 'node:net';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { RegistrySettingsBody } from './schemas.ts';

/** The edge's host reversed (`mcp.example.com` → `com.example.mcp`); an IP address or a one-label host: `local.toolplane`. */
function defaultNamespace(publicEdgeUrl: string): string {
  const host = new URL(publicEdgeUrl).hostname.replace(/^\[|\]$/g, '');
  const labels = host.split('.').filter(Boolean);
  if (isIP(host) !== 0 || labels.length < 2) return 'local.toolplane';
  return labels.reverse().join('.');
}

/** The workspace's registry settings: its source (its own, else `MCP_REGISTRY_URL`) and its servers' namespace. */
export async function registrySettings(deps: ControlPlaneDeps, workspaceId: string) {
  const row = await deps.db.workspace.findUniqueOrThrow({
    where: { id: workspaceId },
    select: { registryUrl: true, registryNamespace: true },
  });
  return {
    id: workspaceId,
    sourceUrl: row.registryUrl,
    namespace: row.registryNamespace,
    effective: {
      sourceUrl: (row.registryUrl ?? deps.env.MCP_REGISTRY_URL).replace(/\/+$/, ''),
      namespace: row.registryNamespace ?? defaultNamespace(deps.env.PUBLIC_EDGE_URL),
    },
  };
}

/** `GET /registry/settings`. */
export async function getRegistrySettings(deps: ControlPlaneDeps, { caller }: Input) {
  return registrySettings(deps, caller.workspaceId);
}

/** `PUT /registry/settings`: both fields, null for the default. */
export async function putRegistrySettings(deps: ControlPlaneDeps, { body, caller }: Input<RegistrySettingsBody>) {
  await deps.db.workspace.update({
    where: { id: caller.workspaceId },
    data: { registryUrl: body.sourceUrl, registryNamespace: body.namespace },
  });
  return registrySettings(deps, caller.workspaceId);
}
