import { createHash } from 'node:crypto';
import { compileOpenApiEvents } from '@toolplane/openapi';
import type { Catalog, CatalogEventType } from '@toolplane/contracts';
import type { Tx } from '../db/client.ts';
import { descriptorEventTypes } from './descriptor-events.ts';

/**
 * The event types a server exposes (MCP Events, ADR 0081, docs/events.md): `config.events` names them, like a
 * server's tools; they come from its connector instance (a server bound to one) or from any of the workspace's
 * instances. An OpenAPI connector's event types are its document's `webhooks` (`compileOpenApiEvents`); connector
 * connector descriptors' (and OpenAPI envelopes') `events` sections (descriptor-events.ts) join them. A name that is also one of the server's
 * tools is left out (access policies grant events by name, as tools: the names must not collide), as is a name no
 * instance has; both become the catalog's warnings.
 */

type InstanceRow = {
  id: string;
  name: string;
  connector: { slug: string; kind: string; document: unknown; descriptor: unknown };
};

/** An instance's event types: its connector's `events` section, and an OpenAPI connector's document's webhooks. */
function instanceEventTypes(instance: InstanceRow): CatalogEventType[] {
  const { connector } = instance;
  const declared = descriptorEventTypes(instance);
  if (connector.kind !== 'openapi' || connector.document === null || typeof connector.document !== 'object')
    return declared;
  const source = { connector: connector.slug, instance: instance.name, instanceId: instance.id };
  const webhooks = compileOpenApiEvents(connector.document as Record<string, unknown>).events;
  return [...declared, ...webhooks.map((e) => ({ ...e, source }))];
}

/** `config.events`: the names of the event types the server exposes (absent or not a list of names: none). */
function selectedEvents(config: unknown): string[] {
  const names = (config as { events?: unknown } | null | undefined)?.events;
  return Array.isArray(names) ? names.filter((n): n is string => typeof n === 'string') : [];
}

/** What an external MCP server's events need of its config (compile.ts `StoredExternalConfig`). */
interface ExternalEventSource {
  name: string;
  url: string;
  registryId?: string | undefined;
  headersSecret?: string | undefined;
  headerSecrets?: Record<string, string> | undefined;
}

const objectOr = (v: unknown, fallback: Record<string, unknown>): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fallback;

/**
 * An external MCP server's event types (its `events/list`, as its pins serve it): each relayed under its own name,
 * polled by the worker (`events/poll`) and offered to subscribers in every mode. Their subscriptions are kept under
 * `mcp-<id>` (the registered server's id, or a digest of the hosting server and the config's name).
 */
export function externalEventTypes(
  serverId: string,
  cfg: ExternalEventSource,
  listed: readonly Record<string, unknown>[],
): CatalogEventType[] {
  const id = cfg.registryId ?? createHash('sha256').update(`${serverId}\n${cfg.name}`).digest('hex').slice(0, 24);
  const source = { connector: `mcp:${cfg.name}`, instance: cfg.name, instanceId: `mcp-${id}` };
  const external = {
    server: cfg.name,
    url: cfg.url,
    ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
    ...(cfg.headerSecrets ? { headerSecrets: cfg.headerSecrets } : {}),
  };
  return listed.flatMap((e): CatalogEventType[] => {
    if (typeof e.name !== 'string' || e.name.length === 0 || e.name.length > 128) return [];
    return [
      {
        event: {
          name: e.name,
          ...(typeof e.title === 'string' ? { title: e.title } : {}),
          ...(typeof e.description === 'string' ? { description: e.description } : {}),
          inputSchema: objectOr(e.inputSchema, { type: 'object' }),
          payloadSchema: objectOr(e.payloadSchema, { type: 'object' }),
          // Toolplane polls the external server and delivers in every mode itself, whatever the server offers.
          delivery: ['poll', 'push', 'webhook'],
        },
        source,
        match: { provider: 'mcp', types: [e.name] },
        external,
      },
    ];
  });
}

/**
 * The catalog with the server's chosen event types (and warnings for the names it could not give): those of its
 * connector instances first, then those its external MCP servers listed (`catalog.events` as the external merge left
 * it: every one listed, under its pins), which only `config.events` exposes.
 */
export async function withEvents(
  tx: Tx,
  server: { workspaceId: string; connectorInstanceId: string | null; config: unknown },
  catalog: Catalog,
): Promise<Catalog> {
  const names = selectedEvents(server.config);
  const { events: listedExternal, ...rest } = catalog;
  if (names.length === 0) return rest;
  const instances = await tx.connectorInstance.findMany({
    where: server.connectorInstanceId ? { id: server.connectorInstanceId } : { workspaceId: server.workspaceId },
    include: { connector: true },
    orderBy: [{ createdAt: 'asc' }, { id: 'asc' }],
  });
  const available = new Map<string, CatalogEventType>();
  for (const e of [...instances.flatMap(instanceEventTypes), ...(listedExternal ?? [])])
    if (!available.has(e.event.name)) available.set(e.event.name, e);
  const tools = new Set(catalog.tools.map((t) => t.tool.name));
  const events: CatalogEventType[] = [];
  const warnings: string[] = [];
  for (const name of new Set(names)) {
    const e = available.get(name);
    if (!e)
      warnings.push(
        `event type "${name}" (config.events) is given by none of the server's connector instances` +
          (listedExternal ? ' or external MCP servers' : ''),
      );
    else if (tools.has(name)) warnings.push(`event type "${name}" (config.events) has the name of one of its tools`);
    else events.push(e);
  }
  return {
    ...rest,
    ...(events.length > 0 ? { events } : {}),
    ...(warnings.length > 0 ? { warnings: [...(catalog.warnings ?? []), ...warnings] } : {}),
  };
}
