import { DescriptorEvents, type CatalogEventType } from '@toolplane/contracts';

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
