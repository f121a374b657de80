import { createHash, randomBytes } from 'node:crypto';
import type { Catalog, ListRemoteToolsResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { RedisClient } from '@toolplane/redis';
import {
  type ExternalLister,
  type Listing,
  registeredConfig,
  registeredExternalConfigs,
  type ServerRow,
  type StoredExternalConfig,
} from '../../catalog/compile.ts';
import { canonical } from '../../catalog/pins.ts';
import { NothingToChange, type CatalogService } from '../../catalog/service.ts';
import type { Db } from '../../db/client.ts';
import type { ChangeWebhooks } from '../../documents/change-webhooks.ts';
import { listingOf } from './listing.ts';
import { announceHeld, pinsAfterListing, recordHeld } from './review.ts';

/**
 * Digest of what a catalog takes from external MCP servers (tool definitions, plans, order; resources, templates and
 * prompts): equal digests, nothing to publish.
 */
export function externalToolsDigest(catalog: Pick<Catalog, 'tools' | 'external' | 'events'>): string {
  const external = catalog.tools.filter((t) => t.plan.kind === 'mcp').map((t) => [t.tool, t.plan, t.source]);
  const events = (catalog.events ?? []).filter((e) => e.external);
  return createHash('sha256')
    .update(canonical([external, catalog.external ?? [], ...(events.length > 0 ? [events] : [])]))
    .digest('hex');
}

/** An external server's event types as the catalog last served them (in the lister's format). */
function lastListedEvents(catalog: Pick<Catalog, 'events'> | undefined, cfg: StoredExternalConfig) {
  const events = (catalog?.events ?? [])
    .filter((e) => e.external?.server === cfg.name && e.external.url === cfg.url)
    .map((e) => ({ ...e.event, name: e.match.types[0] }));
  return events.length > 0 ? { events } : {};
}

/** An external server's resources, templates and prompts as the catalog last stored them, in the lister's format. */
function lastListedFeatures(catalog: Pick<Catalog, 'external' | 'events'> | undefined, cfg: StoredExternalConfig) {
  const f = catalog?.external?.find((e) => e.server === cfg.name && e.url === cfg.url);
  if (!f) return lastListedEvents(catalog, cfg);
  return {
    ...lastListedEvents(catalog, cfg),
    resources: f.resources,
    resourceTemplates: f.resourceTemplates,
    prompts: f.prompts.map((p) => ({ ...p.prompt, name: p.remoteName })),
    capabilities: {
      ...(f.completions ? { completions: {} } : {}),
      ...(f.resources.length + f.resourceTemplates.length > 0
        ? { resources: { subscribe: f.subscribe === true } }
        : {}),
      ...(f.prompts.length > 0 ? { prompts: {} } : {}),
    },
  };
}

/** An external server's tools as the catalog last stored them (in the lister's format), for a server that cannot be listed now. */
export function lastListedTools(
  catalog: Pick<Catalog, 'tools'> | undefined,
  cfg: StoredExternalConfig,
): ListRemoteToolsResult['tools'] {
  return (catalog?.tools ?? [])
    .filter((t) => t.plan.kind === 'mcp' && t.plan.server === cfg.name && t.plan.url === cfg.url)
    .map((t) => ({
      name: (t.plan as { remoteTool: string }).remoteTool,
      description: t.tool.description,
      ...(t.tool.title ? { title: t.tool.title } : {}),
      inputSchema: t.tool.inputSchema,
    }));
}

export interface RefreshDeps {
  db: Db;
  catalog: CatalogService;
  listExternal: ExternalLister;
  changeWebhooks: ChangeWebhooks;
  log: Logger;
}

export interface RefreshOutcome {
  checked: number;
  republished: string[];
  failed: string[];
  /** Servers not reached before the run's deadline (left for the next run). */
  skipped: number;
}

/**
 * One refresh of external tool lists: every server with external MCP configs is listed again (through
 * the worker) and, only when its external tools differ from the current catalog's, compiled and
 * published as a new version (same transaction rules as recompileServers; edges then send
 * tools/list_changed). An external server that cannot be listed keeps its last list (a transient
 * failure never drops tools); a version this refresh publishes names it in a warning. Explicit
 * recompilations (server update, connector changes: recompileServers) still list afresh and leave an
 * unreachable server out with a warning.
 */
async function refreshExternalTools(deps: RefreshDeps, opts: { deadlineAt: number }): Promise<RefreshOutcome> {
  const { db, log } = deps;
  const servers = (await db.mcpServer.findMany({
    where: { catalogVersion: { gt: 0 } },
    orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }],
  })) as ServerRow[];
  const registered = await registeredExternalConfigs(
    db,
    servers.map((s) => s.id),
  );
  const configsOf = (s: ServerRow) => [
    ...((s.externalMcpConfigs ?? []) as StoredExternalConfig[]),
    ...(registered.get(s.id) ?? []),
  ];
  const withExternal = servers.filter((s) => configsOf(s).length > 0);
  const outcome: RefreshOutcome = { checked: 0, republished: [], failed: [], skipped: 0 };
  // Servers registered on the workspace are listed once per run, however many servers use them; their
  // registry entries keep the list (or the reason it failed).
  const listings = new Map<string, Promise<ListRemoteToolsResult>>();
  const listOnce: ExternalLister = (cfg) => {
    if (!cfg.registryId) return deps.listExternal(cfg);
    let p = listings.get(cfg.registryId);
    if (!p) {
      p = deps.listExternal(cfg);
      listings.set(cfg.registryId, p);
    }
    return p;
  };
  await refreshRegistry(deps, listOnce, opts.deadlineAt);
  for (const s of withExternal) {
    if (Date.now() >= opts.deadlineAt) {
      outcome.skipped++;
      continue;
    }
    try {
      if (await refreshServer(s, configsOf(s), { ...deps, listExternal: listOnce })) outcome.republished.push(s.id);
      outcome.checked++;
    } catch (err) {
      outcome.failed.push(s.id);
      log.warn({ err, serverId: s.id }, 'external tools of a server could not be refreshed; keeping its catalog');
    }
  }
  if (outcome.skipped > 0)
    log.warn(
      { skipped: outcome.skipped },
      'external tools refresh reached its deadline; the rest waits for the next run',
    );
  return outcome;
}

/** Lists every external MCP server registered on a workspace and keeps its tool list (or the reason it failed) on its entry. */
async function refreshRegistry(deps: RefreshDeps, list: ExternalLister, deadlineAt: number): Promise<void> {
  const entries = await deps.db.externalMcpServer.findMany({ orderBy: [{ updatedAt: 'asc' }, { id: 'asc' }] });
  for (const entry of entries) {
    if (Date.now() >= deadlineAt) return;
    const result = await list(registeredConfig(entry, [])).catch((err: unknown): ListRemoteToolsResult => ({
      v: 1,
      taskId: '',
      ok: false,
      error: String(err),
      tools: [],
    }));
    await storeListing(deps, entry, result).catch((err: unknown) =>
      deps.log.warn({ err, id: entry.id }, 'registered external MCP server not updated'),
    );
  }
}

type Entry = Awaited<ReturnType<Db['externalMcpServer']['findMany']>>[number];

/**
 * A registered server's listing stored on its entry, reconciled with its pins (ADR 0061): the changes it holds are
 * audit events in the same transaction and POSTed to its webhook after the commit. Only the entry as it was listed:
 * one changed meanwhile (or decided on) is listed anew by the next run.
 */
async function storeListing(deps: RefreshDeps, entry: Entry, result: ListRemoteToolsResult): Promise<void> {
  const { pins, held } = pinsAfterListing(entry, result);
  const stored = await deps.db.$transaction(async (tx) => {
    const n = await tx.externalMcpServer.updateMany({
      where: { id: entry.id, url: entry.url, updatedAt: entry.updatedAt },
      data: { ...listingOf(result), ...(pins ? { pins: pins as object } : {}), updatedAt: entry.updatedAt },
    });
    if (n.count > 0) await recordHeld(tx, entry, held);
    return n.count > 0;
  });
  if (stored) announceHeld(deps.changeWebhooks, entry, held);
}

/** Lists a server's external servers outside any transaction; returns whether a new catalog version was published. */
async function refreshServer(
  s: ServerRow,
  configs: StoredExternalConfig[],
  { db, catalog: catalogs, listExternal, log }: RefreshDeps,
): Promise<boolean> {
  const currentRow = await db.catalogVersion.findUnique({
    where: { serverId_version: { serverId: s.id, version: s.catalogVersion } },
  });
  const current = currentRow?.catalog as Catalog | undefined;
  if (!current) return false;
  // Network calls happen here, never inside the transaction; the compilation below reads these answers.
  const answers = new Map<string, Listing>();
  const unreachable: string[] = [];
  await Promise.all(
    configs.map(async (cfg) => {
      const result = await listExternal(cfg).catch((err: unknown): ListRemoteToolsResult => ({
        v: 1,
        taskId: '',
        ok: false,
        error: String(err),
        tools: [],
      }));
      if (result.ok) answers.set(cfg.name, result);
      else {
        unreachable.push(cfg.name);
        log.info(
          { serverId: s.id, external: cfg.name, error: result.error },
          'external MCP server could not be listed; keeping its last list',
        );
        // What the catalog served already: not put under pins again.
        answers.set(cfg.name, {
          ...result,
          ok: true,
          tools: lastListedTools(current, cfg),
          ...lastListedFeatures(current, cfg),
          asServed: true,
        });
      }
    }),
  );
  const replay: ExternalLister = async (cfg) =>
    answers.get(cfg.name) ?? {
      v: 1,
      taskId: '',
      ok: true,
      tools: lastListedTools(current, cfg),
      ...lastListedFeatures(current, cfg),
      asServed: true,
    };
  // Through the catalog service: stored in one transaction, published after its commit; nothing at
  // all when the external tools did not change (the change is abandoned, no version number used).
  const { catalogs: published } = await catalogs.change(
    { serverIds: [s.id] },
    async (tx) => {
      const row = await tx.mcpServer.findUnique({ where: { id: s.id }, select: { catalogVersion: true } });
      // Changed or deleted meanwhile: that change published its own catalog; the next run compares again.
      if (!row || row.catalogVersion !== s.catalogVersion) throw new NothingToChange();
      return { result: s.id };
    },
    {
      lister: replay,
      finish: (compiled) => {
        if (externalToolsDigest(compiled) === externalToolsDigest(current)) return undefined;
        const warnings = [
          ...(compiled.warnings ?? []),
          ...unreachable.map(
            (name) => `external MCP server "${name}" could not be listed at the last refresh; its last list is kept`,
          ),
        ];
        return { ...compiled, ...(warnings.length > 0 ? { warnings } : {}) };
      },
    },
  );
  const catalog = published.get(s.id);
  if (catalog)
    log.info({ serverId: s.id, version: catalog.version }, 'external tools changed; new catalog version published');
  return catalog !== undefined;
}

/**
 * Runs refreshExternalTools every `intervalMs` (0: never). One run at a time in this process, and one
 * per interval across control-plane replicas: a run starts only after `SET <prefix>:external-refresh:lock
 * NX PX 0.9 × interval` succeeds, and the key is left to expire (about one run per interval cluster-wide).
 * A run stops starting servers at its deadline (the interval, at least 10 s).
 */
export function startExternalToolsRefresher(
  deps: RefreshDeps & { redis: RedisClient; prefix: string; intervalMs: number },
): {
  stop(): Promise<void>;
  runOnce(): Promise<RefreshOutcome | undefined>;
} {
  const lockKey = `${deps.prefix}:external-refresh:lock`;
  const owner = randomBytes(8).toString('hex');
  let running: Promise<RefreshOutcome | undefined> | undefined;
  let stopped = false;
  const runOnce = (): Promise<RefreshOutcome | undefined> => {
    if (running || stopped) return running ?? Promise.resolve(undefined);
    running = (async () => {
      try {
        // A little shorter than the interval, so this replica's next tick finds it expired.
        const got = await deps.redis.set(lockKey, owner, 'PX', Math.max(50, Math.floor(deps.intervalMs * 0.9)), 'NX');
        if (got !== 'OK') return undefined;
        const started = Date.now();
        const outcome = await refreshExternalTools(deps, { deadlineAt: started + Math.max(deps.intervalMs, 10_000) });
        deps.log.debug({ ...outcome, ms: Date.now() - started }, 'external tools refreshed');
        return outcome;
      } catch (err) {
        deps.log.error({ err }, 'external tools refresh failed');
        return undefined;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  const timer = deps.intervalMs > 0 ? setInterval(() => void runOnce(), deps.intervalMs) : undefined;
  timer?.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
