import { createHash, randomUUID } from 'node:crypto';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
  EventSubscription,
  externalEventCursorKey,
  externalEventLockKey,
  externalEventServersKey,
  subscriptionsKey,
  type CatalogEventType,
} from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import { z } from 'zod';
import { createGuardedFetch } from '../outbound-guard.ts';
import { externalHeaders } from '../remote-tools.ts';
import { fanOut, type FanOutDeps } from './fan-out.ts';
import type { EventSources, ServerEvents } from './sources.ts';

/** External MCP servers are reached through the outbound guard like every other upstream. */
const guardedFetch = createGuardedFetch();

/** Renews a lock only while this worker holds it. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;

/** An external server's `events/poll` answer (SEP-3415): what Toolplane reads of it. */
const PollAnswer = z.looseObject({
  events: z.array(
    z.looseObject({ eventId: z.string().min(1).max(512), timestamp: z.string().optional(), data: z.unknown() }),
  ),
  cursor: z.string().max(1024).nullish(),
  hasMore: z.boolean().optional(),
  nextPollMs: z.number().optional(),
});

/** A cursor is kept this long after its last poll (a group nobody subscribes to any more lets it lapse). */
const CURSOR_TTL_MS = 24 * 3600_000;
/** A group whose poll failed (the server unreachable, an error answer) is polled again after this long. */
const RETRY_MS = 5_000;
/** At most this many pages are read of one group in one tick. */
const MAX_PAGES = 10;

export interface ExternalPollerDeps {
  redis: RedisClient;
  prefix: string;
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  sources: Pick<EventSources, 'external'>;
  /** The worker's secret resolver: the external server's sealed headers (never logged or passed on). */
  secret: (name: string) => Promise<string | undefined>;
  fanOut: FanOutDeps;
  /** How often the wanted polls are read (default 1 s). */
  intervalMs?: number;
}

/** One (event type, arguments) of an external server that live subscriptions want. */
interface Group {
  id: string;
  instanceId: string;
  workspaceId: string;
  type: CatalogEventType;
  arguments: Record<string, unknown>;
  servers: ServerEvents[];
}

/** JSON with sorted keys: the same arguments, the same group. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object')
    return `{${Object.entries(value as Record<string, unknown>)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`)
      .join(',')}}`;
  return JSON.stringify(value) ?? 'null';
}

/** The id of one (event type, arguments) group: the external type and its arguments, in a canonical order. */
function groupId(remote: string, args: Record<string, unknown>): string {
  return createHash('sha256')
    .update(`${remote}\n${canonical(args)}`)
    .digest('base64url')
    .slice(0, 32);
}

/**
 * External MCP servers' events relayed (docs/events.md "External MCP servers' events"): every tick, the servers whose
 * catalogs hold such event types (`externalEventServersKey`) and their live subscriptions give the (event type,
 * arguments) groups wanted; each group is polled by one worker at a time (a lock in Redis, renewed each tick) with
 * `events/poll` from the cursor kept in Redis, over one connection per external server with its sealed headers (the
 * credentials stay in this worker), and each event is fanned out to the group's subscriptions as an inbound
 * delivery's occurrence is: access and conditions, guardrails, quotas, the `untrusted` label, the stream.
 */
export class ExternalEventPoller {
  private readonly deps: ExternalPollerDeps;
  private readonly workerId = randomUUID();
  private readonly clients = new Map<string, Promise<Client>>();
  /** When a group may be polled next (the server's `nextPollMs`). */
  private readonly nextAt = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private ticking = false;

  constructor(deps: ExternalPollerDeps) {
    this.deps = deps;
  }

  start(): void {
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs ?? 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c.then((x) => x.close()).catch(() => undefined)));
  }

  /** One pass: every group wanted now that this worker holds (or takes) is polled. */
  async tick(): Promise<void> {
    if (this.ticking) return;
    this.ticking = true;
    try {
      const wanted = await this.wanted();
      this.forgetAllBut(wanted);
      for (const group of wanted) {
        if ((this.nextAt.get(group.id) ?? 0) > Date.now() || !(await this.hold(group))) continue;
        await this.poll(group).catch((err: unknown) => {
          this.deps.log.warn({ err, instanceId: group.instanceId }, 'external events not polled');
          this.drop(group.instanceId);
          this.nextAt.set(group.id, Date.now() + RETRY_MS);
        });
      }
    } catch (err) {
      this.deps.log.warn({ err }, 'external events not reconciled (Redis unavailable?)');
    } finally {
      this.ticking = false;
    }
  }

  /** The groups live subscriptions want, from the servers that expose external event types. */
  private async wanted(): Promise<Group[]> {
    const { redis, prefix, sources } = this.deps;
    const byInstance = new Map<string, { workspaceId: string; servers: ServerEvents[] }>();
    for (const serverId of await redis.smembers(externalEventServersKey(prefix))) {
      const found = await sources.external(serverId);
      if (!found) {
        await redis.srem(externalEventServersKey(prefix), serverId);
        continue;
      }
      for (const type of found.server.types) {
        const at = byInstance.get(type.source.instanceId) ?? { workspaceId: found.workspaceId, servers: [] };
        const types = found.server.types.filter((t) => t.source.instanceId === type.source.instanceId);
        if (!at.servers.some((s) => s.serverId === serverId)) at.servers.push({ ...found.server, types });
        byInstance.set(type.source.instanceId, at);
      }
    }
    const groups = new Map<string, Group>();
    const now = Date.now();
    for (const [instanceId, { workspaceId, servers }] of byInstance)
      for (const raw of Object.values(await redis.hgetall(subscriptionsKey(instanceId)))) {
        const parsed = EventSubscription.safeParse(JSON.parse(raw));
        if (!parsed.success || parsed.data.expiresAt <= now || parsed.data.workspaceId !== workspaceId) continue;
        const sub = parsed.data;
        const type = servers.find((s) => s.serverId === sub.serverId)?.types.find((t) => t.event.name === sub.name);
        if (!type) continue;
        const id = `${instanceId}/${groupId(type.match.types[0]!, sub.arguments)}`;
        if (!groups.has(id)) groups.set(id, { id, instanceId, workspaceId, type, arguments: sub.arguments, servers });
      }
    return [...groups.values()];
  }

  /** Whether this worker polls the group: it renews its lock, or takes a free one. */
  private async hold(group: Group): Promise<boolean> {
    const { redis } = this.deps;
    const key = externalEventLockKey(group.instanceId, group.id.split('/')[1]!);
    const lockMs = 10 * (this.deps.intervalMs ?? 1000);
    if (await redis.eval(RENEW, 1, key, this.workerId, lockMs)) return true;
    return (await redis.set(key, this.workerId, 'PX', lockMs, 'NX')) === 'OK';
  }

  /** Polls the group from its cursor (pages while the server has more), fans out each event, keeps the cursor. */
  private async poll(group: Group): Promise<void> {
    const { redis } = this.deps;
    const cursorKey = externalEventCursorKey(group.instanceId, group.id.split('/')[1]!);
    const client = await this.client(group.instanceId, group.type);
    const remote = group.type.match.types[0]!;
    for (let page = 0; page < MAX_PAGES; page++) {
      const cursor = await redis.get(cursorKey);
      const answer = await client.request(
        { method: 'events/poll', params: { name: remote, arguments: group.arguments, cursor } },
        PollAnswer,
      );
      for (const e of answer.events) await this.give(group, e);
      if (answer.cursor) await redis.set(cursorKey, answer.cursor, 'PX', CURSOR_TTL_MS);
      const wait = Math.min(Math.max(answer.nextPollMs ?? 0, 0), 60_000);
      this.nextAt.set(group.id, Date.now() + wait);
      if (!answer.hasMore || !answer.cursor) return;
    }
  }

  private async give(group: Group, e: z.infer<typeof PollAnswer>['events'][number]): Promise<void> {
    const remote = group.type.match.types[0]!;
    const args = canonical(group.arguments);
    const given = await fanOut(
      this.deps.fanOut,
      {
        instanceId: group.instanceId,
        workspaceId: group.workspaceId,
        servers: group.servers,
        only: (sub) => canonical(sub.arguments) === args,
      },
      { eventId: e.eventId, types: [remote], data: e.data, timestamp: e.timestamp ?? new Date().toISOString() },
    );
    this.deps.log.debug(
      { instanceId: group.instanceId, eventId: e.eventId, given: given.filter((g) => g.given).length, fanOut: given },
      'external event fanned out',
    );
  }

  /** One connection per external server, with its sealed headers; dropped on a failure (the next tick connects). */
  private client(instanceId: string, type: CatalogEventType): Promise<Client> {
    let client = this.clients.get(instanceId);
    if (client) return client;
    const external = type.external!;
    client = (async () => {
      const headers = await externalHeaders({ resolve: this.deps.secret }, {}, external);
      const c = new Client({ name: 'toolplane', version: '0.1.0' }, { versionNegotiation: { mode: 'auto' } });
      await c.connect(
        new StreamableHTTPClientTransport(new URL(external.url), { requestInit: { headers }, fetch: guardedFetch }),
      );
      return c;
    })();
    client.catch(() => this.clients.delete(instanceId));
    this.clients.set(instanceId, client);
    return client;
  }

  /** Groups and servers no longer wanted: their next-poll times forgotten, their connections closed. */
  private forgetAllBut(wanted: readonly Group[]): void {
    const ids = new Set(wanted.map((g) => g.id));
    const instances = new Set(wanted.map((g) => g.instanceId));
    for (const id of [...this.nextAt.keys()]) if (!ids.has(id)) this.nextAt.delete(id);
    for (const instanceId of [...this.clients.keys()]) if (!instances.has(instanceId)) this.drop(instanceId);
  }

  private drop(instanceId: string): void {
    const client = this.clients.get(instanceId);
    this.clients.delete(instanceId);
    void client?.then((c) => c.close()).catch(() => undefined);
  }
}
