import { DescriptorEvents, type Catalog, type CatalogEventType } from '@toolplane/contracts';
import type { Tx } from '../db/client.ts';

/** An instance and the `events` section its connector declares (a seed-001 descriptor's, or an OpenAPI envelope's). */
interface EventSource {
  id: string;
  name: string;
  connector: { slug: string; descriptor: unknown };
}

/**
 * The event types of one connector instance (MCP Events, docs/events.md), from its connector's `events` section: each
 * type as `events/list` shows it, what makes an occurrence of it (the provider and its type names) and how each
 * subscription argument filters the payload. No section (or one stored before it was checked and now invalid): none.
 */
export function descriptorEventTypes(instance: EventSource): CatalogEventType[] {
  const raw = (instance.connector.descriptor as { events?: unknown } | null)?.events;
  if (raw === undefined) return [];
  const parsed = DescriptorEvents.safeParse(raw);
  if (!parsed.success) return [];
  const { provider, types } = parsed.data;
  return types.map((t) => ({
    event: {
      name: t.name,
      ...(t.title ? { title: t.title } : {}),
      ...(t.description ? { description: t.description } : {}),
      inputSchema: t.input_schema ?? { type: 'object', properties: {} },
      ...(t.payload_schema ? { payloadSchema: t.payload_schema } : {}),
      delivery: t.delivery ?? ['poll', 'push', 'webhook'],
    },
    source: { connector: instance.connector.slug, instance: instance.name, instanceId: instance.id },
    match: { provider, types: t.match },
    ...(t.filters ? { filters: t.filters } : {}),
  }));
}

/**
 * A server on one connector instance exposes that instance's descriptor event types (`Catalog.events`): those its
 * `config.events` names when it names any (as the OpenAPI `webhooks` path selects, ADR 0081), else all of them; other
 * servers (SMART, workspace selections) none from descriptors. Kept apart from the OpenAPI `webhooks` path.
 */
export async function withDescriptorEvents(
  tx: Tx,
  server: { connectorInstanceId: string | null; config: unknown },
  catalog: Catalog,
): Promise<Catalog> {
  if (!server.connectorInstanceId) return catalog;
  const instance = await tx.connectorInstance.findUnique({
    where: { id: server.connectorInstanceId },
    select: { id: true, name: true, connector: { select: { slug: true, descriptor: true } } },
  });
  const named = (server.config as { events?: unknown } | null)?.events;
  const chosen = Array.isArray(named) ? new Set(named.filter((n): n is string => typeof n === 'string')) : undefined;
  const all = instance ? descriptorEventTypes(instance) : [];
  const events = chosen ? all.filter((e) => chosen.has(e.event.name)) : all;
  if (events.length === 0) return catalog;
  const taken = new Set((catalog.events ?? []).map((e) => e.event.name));
  return { ...catalog, events: [...(catalog.events ?? []), ...events.filter((e) => !taken.has(e.event.name))] };
}
