import {
  CatalogEventType,
  EventSource,
  eventSourcesKey,
  redisKeys,
  type GuardrailRule,
  type WebhookProvider,
} from '@toolplane/contracts';
import { compileGuardrails, type CompiledGuardrail } from '@toolplane/guardrails';
import type { RedisClient } from '@toolplane/redis';
import { LRUCache } from 'lru-cache';

/** One server's event types fed by one instance, from its live catalog, with what fan-out needs of that catalog. */
export interface ServerEvents {
  serverId: string;
  serverName: string;
  catalogVersion: number;
  types: CatalogEventType[];
  guardrails: readonly CompiledGuardrail[];
  /** The server's settings of portable rules (ADR 0101), as its catalog publishes them (absent: none). */
  ruleSettings?: unknown;
}

/** Where one instance's deliveries go: its workspace, how its provider signs, each server's event types. */
export interface InstanceEvents {
  workspaceId: string;
  provider: WebhookProvider;
  servers: ServerEvents[];
}

interface LiveCatalog {
  version: number;
  workspaceId: string;
  name: string;
  events: CatalogEventType[];
  guardrails: readonly CompiledGuardrail[];
  ruleSettings: unknown;
}

/**
 * The event types of connector instances, read from the servers' live catalogs (`eventSourcesKey` names the servers):
 * a catalog version is parsed once (its events and guardrails only) and kept in a small cache by server and version.
 */
export class EventSources {
  private readonly redis: RedisClient;
  private readonly keys;
  private readonly parsed = new LRUCache<string, LiveCatalog>({ max: 200 });

  constructor(redis: RedisClient, prefix: string) {
    this.redis = redis;
    this.keys = redisKeys(prefix);
  }

  async of(instanceId: string): Promise<InstanceEvents | undefined> {
    const entries = Object.entries(await this.redis.hgetall(eventSourcesKey(instanceId)));
    let head: EventSource | undefined;
    const servers: ServerEvents[] = [];
    for (const [serverId, raw] of entries) {
      const source = EventSource.safeParse(JSON.parse(raw));
      if (!source.success) continue;
      const live = await this.catalog(serverId);
      const types = live?.events.filter((e) => e.source.instanceId === instanceId) ?? [];
      if (!live || types.length === 0) continue;
      head ??= source.data;
      servers.push({
        serverId,
        serverName: live.name,
        catalogVersion: live.version,
        types,
        guardrails: live.guardrails,
        ruleSettings: live.ruleSettings,
      });
    }
    return head ? { workspaceId: head.workspaceId, provider: head.provider, servers } : undefined;
  }

  /**
   * A server's external MCP servers' event types (`external`, polled by the worker), with what fan-out needs of its
   * live catalog; undefined: no catalog, or none.
   */
  async external(serverId: string): Promise<{ workspaceId: string; server: ServerEvents } | undefined> {
    const live = await this.catalog(serverId);
    const types = live?.events.filter((e) => e.external !== undefined) ?? [];
    if (!live || types.length === 0) return undefined;
    const server = {
      serverId,
      serverName: live.name,
      catalogVersion: live.version,
      types,
      guardrails: live.guardrails,
      ruleSettings: live.ruleSettings,
    };
    return { workspaceId: live.workspaceId, server };
  }

  private async catalog(serverId: string): Promise<LiveCatalog | undefined> {
    const raw = await this.redis.get(this.keys.catalog(serverId));
    if (!raw) return undefined;
    const value = JSON.parse(raw) as {
      version?: number;
      workspaceId?: string;
      name?: string;
      events?: unknown[];
      guardrails?: unknown;
      ruleSettings?: unknown;
    };
    const id = `${serverId}:${value.version}`;
    const hit = this.parsed.get(id);
    if (hit) return hit;
    const live: LiveCatalog = {
      version: Number(value.version ?? 0),
      workspaceId: String(value.workspaceId ?? ''),
      name: String(value.name ?? serverId),
      events: (value.events ?? []).flatMap((e) => {
        const parsed = CatalogEventType.safeParse(e);
        return parsed.success ? [parsed.data] : [];
      }),
      guardrails: Array.isArray(value.guardrails) ? compileGuardrails(value.guardrails as GuardrailRule[]) : [],
      ruleSettings: value.ruleSettings,
    };
    this.parsed.set(id, live);
    return live;
  }
}
