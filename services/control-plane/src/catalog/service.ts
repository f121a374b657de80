import type { Catalog, ListRemoteToolsResult } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import type { DataPlaneTaskClient } from '@toolplane/queue';
import type { SecretsWriter } from '@toolplane/secrets';
import type { Db, Tx } from '../db/client.ts';
import { dryRunRolledBack } from '../db/audited-db.ts';
import { isUuid } from '../db/ids.ts';
import { publicationResources } from '../publication/publisher.ts';
import {
  compileCatalog,
  type ExternalLister,
  registeredExternalConfigs,
  type ServerRow,
  type StoredExternalConfig,
} from './compile.ts';
import { deleteInstanceServers } from './instance-servers.ts';
import { credentialSecretPrefix, serverSecretPrefix, userCredentialSecretPrefix } from './secret-names.ts';

/**
 * The catalog service: the single path by which what an MCP server exposes changes.
 *
 * `change()` runs one database transaction: the caller's writes, then, for every affected server, the
 * per-server version counter is incremented (`UPDATE … RETURNING`, which also serialises concurrent
 * changes of that server), its catalog compiled from the rows as they are in this transaction and stored
 * as an immutable `catalog_versions` row. Only after COMMIT are the new versions published to Redis and
 * removed servers' catalogs and secrets deleted. A failed transaction publishes nothing, leaves every
 * counter where it was (so edges and workers stay on the previous version) and a number that was
 * published is never used again. A publication that fails after commit is repaired by `reconcile()`
 * (at start and periodically), which republishes the latest committed version of every server whose
 * Redis copy is missing or older.
 *
 * Network calls (external MCP servers' tool lists, through the worker) happen before the transaction:
 * the compilation inside it answers from what was gathered.
 */

/** The part of RuntimePublisher the catalog service uses (a fake in unit tests). */
export interface CatalogPublisher {
  /** Runs `fn` holding the publication lock on `resource` (ADR 0017). */
  exclusive<T>(resource: string, fn: () => Promise<T>): Promise<T>;
  publishCatalog(catalog: Catalog, opts?: { force?: boolean }): Promise<void>;
  removeCatalog(serverId: string): Promise<void>;
  secretsChanged(namePrefix: string): Promise<void>;
  publishedCatalogVersion(serverId: string): Promise<number | undefined>;
  publishedCatalogServerIds(): Promise<string[]>;
}

/** Which servers a change affects, beyond those the writes name. */
export interface Affected {
  /** These servers. */
  serverIds?: string[];
  /** Servers bound to these connector instances. */
  instanceIds?: string[];
  /** Servers drawing on the whole workspace (SMART, NORMAL choosing tools by name): every instance change. */
  workspaceId?: string;
  /** Servers using these registered external MCP servers. */
  externalServerIds?: string[];
}

/** What the writes of a change report back. */
export interface Written<T> {
  result: T;
  /** Servers created or changed by the writes (recompiled too). */
  serverIds?: string[];
  /** Servers whose `selectedTools` were just set by the user: unknown names are an error (422), not a warning. */
  strictServerIds?: string[];
  /** Servers whose `confirmTools` were just set by the user: names of tools they do not expose are an error (422). */
  strictConfirmServerIds?: string[];
  /** Servers whose `approvalTools` were just set by the user: names of tools they do not expose are an error (422). */
  strictApprovalServerIds?: string[];
  /** Servers whose `config` was just set by the user: a tool `config.resultCache` may not cache is an error (422). */
  strictCacheServerIds?: string[];
  /** Servers the writes deleted: their Redis catalog and their secrets go after commit. */
  removedServers?: { id: string; workspaceId: string }[];
  /** Secrets to delete after commit (replaced external headers, credentials of deleted instances). */
  deleteSecrets?: string[];
  /** Secret name prefixes whose cached values workers drop after commit. */
  secretsChanged?: string[];
}

export interface ChangeOptions {
  /** External MCP configs whose tools the compilation needs, listed before the transaction (new configs of a create/update). */
  external?: StoredExternalConfig[];
  /** Secrets written before the transaction for it: deleted again when it fails. */
  cleanupOnFailure?: string[];
  /** Answers gathered by the caller (the external refresh), instead of listing here. */
  lister?: ExternalLister;
  /**
   * Registered external MCP servers the caller has just listed in their new form (a change of the
   * registered server): used for it instead of listing the stored one again.
   */
  listed?: { config: StoredExternalConfig; result: ListRemoteToolsResult }[];
  /** Last look at each compiled catalog (inside the transaction): `undefined` abandons the whole change (nothing changed). */
  finish?: (catalog: Catalog) => Catalog | undefined;
  /**
   * A dry run: the writes and every compilation run as they would, then the transaction is rolled back; the
   * catalogs it would have committed are returned and nothing is published (a preview of the change).
   */
  dryRun?: boolean;
}

/** Thrown by a change's writes (or `finish`) to roll everything back as "nothing to do": `change` then returns no catalogs. */
export class NothingToChange extends Error {}

/** Rolls a dry run's transaction back, carrying out what it would have committed. */
class DryRunDone extends Error {
  readonly written: unknown;
  readonly catalogs: Map<string, Catalog>;
  constructor(written: unknown, catalogs: Map<string, Catalog>) {
    super('dry run');
    this.written = written;
    this.catalogs = catalogs;
  }
}

export interface ChangeOutcome<T> {
  result: T;
  /** The catalogs this change committed (and published, unless Redis failed: the reconciler repairs that). */
  catalogs: Map<string, Catalog>;
}

/** Lists an external server's tools through the worker (the control plane has no egress). */
export function externalListerFor(tasks: DataPlaneTaskClient, timeoutMs = 10_000): ExternalLister {
  return (cfg) =>
    tasks.listRemoteTools({
      v: 1,
      taskId: crypto.randomUUID(),
      kind: 'mcp.list_tools',
      url: cfg.url,
      headers: {},
      ...(cfg.headersSecret ? { headersSecret: cfg.headersSecret } : {}),
      ...(cfg.headerSecrets ? { headerSecrets: cfg.headerSecrets } : {}),
      deadlineAt: Date.now() + timeoutMs,
      replyTo: tasks.clientId,
    });
}

const externalKey = (cfg: StoredExternalConfig) =>
  JSON.stringify([cfg.name, cfg.url, cfg.headersSecret ?? null, Object.entries(cfg.headerSecrets ?? {}).sort()]);

/** Answers a compilation from lists gathered before the transaction; a config not gathered is reported, not fetched. */
function replayLister(answers: Map<string, ListRemoteToolsResult>): ExternalLister {
  return async (cfg) =>
    answers.get(externalKey(cfg)) ?? {
      v: 1,
      taskId: '',
      ok: false,
      error: 'it changed while the catalog was compiled; the next change or refresh lists it',
      tools: [],
    };
}

/** Prisma's unique-constraint violation (names taken). */
export function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'P2002';
}

export class CatalogService {
  private readonly db: Db;
  private readonly publisher: CatalogPublisher;
  private readonly listExternal: ExternalLister;
  private readonly secrets: Pick<SecretsWriter, 'delete' | 'list'>;
  private readonly log: Pick<Logger, 'error' | 'warn' | 'info'> | undefined;

  constructor(deps: {
    db: Db;
    publisher: CatalogPublisher;
    listExternal: ExternalLister;
    secrets: Pick<SecretsWriter, 'delete' | 'list'>;
    log?: Pick<Logger, 'error' | 'warn' | 'info'>;
  }) {
    this.db = deps.db;
    this.publisher = deps.publisher;
    this.listExternal = deps.listExternal;
    this.secrets = deps.secrets;
    this.log = deps.log;
  }

  private where(affected: Affected) {
    const or: object[] = [];
    if (affected.serverIds?.length) or.push({ id: { in: affected.serverIds } });
    if (affected.instanceIds?.length) or.push({ connectorInstanceId: { in: affected.instanceIds } });
    if (affected.workspaceId)
      or.push(
        { workspaceId: affected.workspaceId, mode: 'SMART' as const },
        { workspaceId: affected.workspaceId, connectorInstanceId: null },
      );
    if (affected.externalServerIds?.length)
      or.push({ externalServers: { some: { externalServerId: { in: affected.externalServerIds } } } });
    return or.length > 0 ? { OR: or } : undefined;
  }

  /** Lists one external MCP server's tools through the worker (a registered server being created or changed). */
  listOne(cfg: StoredExternalConfig): Promise<ListRemoteToolsResult> {
    return this.listExternal(cfg).catch((err: unknown): ListRemoteToolsResult => ({
      v: 1,
      taskId: '',
      ok: false,
      error: String(err),
      tools: [],
    }));
  }

  /** Lists every external MCP server the affected servers (and `extra`) use, outside any transaction. */
  private async gatherExternal(
    affected: Affected,
    extra: StoredExternalConfig[] = [],
    listed: NonNullable<ChangeOptions['listed']> = [],
  ) {
    const where = this.where(affected);
    const servers = where
      ? await this.db.mcpServer.findMany({ where, select: { id: true, externalMcpConfigs: true } })
      : [];
    const registered = await registeredExternalConfigs(
      this.db,
      servers.map((s) => s.id),
    );
    const replaced = new Set(listed.map((l) => l.config.registryId));
    const configs = [
      ...servers.flatMap((s) => [
        ...((s.externalMcpConfigs ?? []) as unknown as StoredExternalConfig[]),
        ...(registered.get(s.id) ?? []).filter((c) => !replaced.has(c.registryId)),
      ]),
      ...extra,
    ];
    const answers = new Map<string, ListRemoteToolsResult>(listed.map((l) => [externalKey(l.config), l.result]));
    await Promise.all(
      configs.map(async (cfg) => {
        const key = externalKey(cfg);
        if (answers.has(key)) return;
        answers.set(key, { v: 1, taskId: '', ok: false, error: 'pending', tools: [] });
        const result = await this.listExternal(cfg).catch((err: unknown): ListRemoteToolsResult => ({
          v: 1,
          taskId: '',
          ok: false,
          error: String(err),
          tools: [],
        }));
        answers.set(key, result);
      }),
    );
    return answers;
  }

  /**
   * One change of what servers expose: `write` runs in the transaction, then the affected servers get
   * new catalog versions in the same transaction; publication and secret deletion follow the commit.
   */
  async change<T>(
    affected: Affected,
    write: (tx: Tx) => Promise<Written<T>>,
    opts: ChangeOptions = {},
  ): Promise<ChangeOutcome<T>> {
    const lister = opts.lister ?? replayLister(await this.gatherExternal(affected, opts.external, opts.listed));
    let committed: { written: Written<T>; catalogs: Map<string, Catalog> };
    try {
      committed = await this.db.$transaction(
        async (tx) => {
          const written = await write(tx);
          const removed = new Set((written.removedServers ?? []).map((s) => s.id));
          const where = this.where({
            ...affected,
            serverIds: [...(affected.serverIds ?? []), ...(written.serverIds ?? [])],
          });
          const servers = where
            ? await tx.mcpServer.findMany({ where, select: { id: true }, orderBy: { id: 'asc' } })
            : [];
          const strict = new Set(written.strictServerIds ?? []);
          const strictConfirm = new Set(written.strictConfirmServerIds ?? []);
          const strictApproval = new Set(written.strictApprovalServerIds ?? []);
          const strictCache = new Set(written.strictCacheServerIds ?? []);
          const catalogs = new Map<string, Catalog>();
          for (const { id } of servers) {
            if (removed.has(id)) continue;
            const strictness = {
              selection: strict.has(id),
              confirm: strictConfirm.has(id),
              approval: strictApproval.has(id),
              cache: strictCache.has(id),
            };
            const catalog = await this.compileNext(tx, id, lister, strictness, opts.finish);
            if (catalog) catalogs.set(id, catalog);
          }
          if (opts.dryRun) throw new DryRunDone(written.result, catalogs);
          return { written, catalogs };
        },
        { timeout: 30_000, maxWait: 10_000 },
      );
    } catch (err) {
      for (const name of opts.cleanupOnFailure ?? []) await this.secrets.delete(name).catch(() => undefined);
      if (err instanceof NothingToChange) return { result: undefined as T, catalogs: new Map() };
      if (err instanceof DryRunDone) {
        dryRunRolledBack();
        return { result: err.written as T, catalogs: err.catalogs };
      }
      throw err;
    }
    await this.afterCommit(committed.written, committed.catalogs);
    return { result: committed.written.result, catalogs: committed.catalogs };
  }

  /** Increments the server's counter and stores the compiled catalog under the new number (inside `tx`). */
  private async compileNext(
    tx: Tx,
    serverId: string,
    lister: ExternalLister,
    strict: { selection: boolean; confirm: boolean; approval: boolean; cache: boolean },
    finish?: (catalog: Catalog) => Catalog | undefined,
  ) {
    const bumped = await tx.$queryRaw<{ catalog_version: number }[]>`
      UPDATE mcp_servers SET catalog_version = catalog_version + 1, updated_at = now()
      WHERE id = ${serverId}::uuid RETURNING catalog_version`;
    if (bumped.length === 0) return undefined;
    const row = (await tx.mcpServer.findUnique({ where: { id: serverId } })) as ServerRow;
    const compiled = await compileCatalog(tx, row, row.catalogVersion, lister, {
      lenientSelection: !strict.selection,
      strictConfirm: strict.confirm,
      strictApproval: strict.approval,
      strictCache: strict.cache,
    });
    const catalog = finish ? finish(compiled) : compiled;
    if (!catalog) throw new NothingToChange();
    await tx.catalogVersion.create({ data: { serverId, version: row.catalogVersion, catalog: catalog as object } });
    return catalog;
  }

  private async afterCommit<T>(written: Written<T>, catalogs: Map<string, Catalog>): Promise<void> {
    for (const catalog of catalogs.values()) {
      const lock = publicationResources.catalog(catalog.serverId);
      await this.publisher
        .exclusive(lock, () => this.publisher.publishCatalog(catalog))
        .catch((err: unknown) => {
          // Committed: the reconciler publishes it (at start and periodically).
          this.log?.error(
            { err, serverId: catalog.serverId },
            'catalog committed but not published; the reconciler retries',
          );
        });
    }
    for (const s of written.removedServers ?? []) {
      const lock = publicationResources.catalog(s.id);
      await this.publisher
        .exclusive(lock, () => this.publisher.removeCatalog(s.id))
        .catch((err: unknown) => {
          this.log?.error({ err, serverId: s.id }, 'deleted server still in Redis');
        });
      await this.deleteSecretsUnder(serverSecretPrefix(s.workspaceId, s.id));
    }
    for (const name of written.deleteSecrets ?? []) {
      await this.secrets.delete(name).catch((err: unknown) => this.log?.warn({ err, name }, 'secret not deleted'));
      await this.publisher.secretsChanged(name).catch(() => undefined);
    }
    for (const prefix of written.secretsChanged ?? [])
      await this.publisher.secretsChanged(prefix).catch(() => undefined);
  }

  /** Deletes every secret whose name starts with `prefix` (a deleted server's, a deleted instance's). */
  private async deleteSecretsUnder(prefix: string): Promise<void> {
    try {
      for (const m of await this.secrets.list(prefix)) await this.secrets.delete(m.name);
      await this.publisher.secretsChanged(prefix);
    } catch (err) {
      this.log?.warn({ err, prefix }, 'secrets of a deleted resource could not all be deleted');
    }
  }

  /**
   * Detaches servers from connector instances about to be deleted, inside the caller's transaction:
   * a server bound to one loses its binding and its selection (it then has no tools, never another
   * instance's); a server choosing tools by name loses the names that came from it. Both get a warning.
   */
  async detachInstances(tx: Tx, instances: { id: string; name: string }[], why: string): Promise<string[]> {
    if (instances.length === 0) return [];
    const ids = instances.map((i) => i.id);
    const workspaceIds = (
      await tx.connectorInstance.findMany({ where: { id: { in: ids } }, select: { workspaceId: true } })
    ).map((i) => i.workspaceId);
    const servers = (await tx.mcpServer.findMany({
      where: { workspaceId: { in: [...new Set(workspaceIds)] } },
    })) as ServerRow[];
    const touched: string[] = [];
    for (const s of servers) {
      const bound = instances.find((i) => i.id === s.connectorInstanceId);
      if (bound) {
        await tx.mcpServer.update({
          where: { id: s.id },
          data: {
            connectorInstanceId: null,
            selectedTools: [],
            bindingWarnings: [
              ...(s.bindingWarnings ?? []),
              `connector instance "${bound.name}" (${bound.id}) ${why}: its tools were removed from this server`,
            ],
          },
        });
        touched.push(s.id);
        continue;
      }
      if (s.connectorInstanceId) continue;
      // SMART servers and NORMAL servers choosing by name: the deleted instance's tool names stay
      // reserved, so another instance's tool of the same name keeps its suffixed name.
      const live = await tx.catalogVersion.findUnique({
        where: { serverId_version: { serverId: s.id, version: s.catalogVersion } },
      });
      const fromGone = ((live?.catalog as Catalog | undefined)?.tools ?? []).filter((t) =>
        ids.includes(t.source?.instanceId ?? ''),
      );
      if (fromGone.length === 0) continue;
      const reservedToolNames = [...new Set([...(s.reservedToolNames ?? []), ...fromGone.map((t) => t.tool.name)])];
      const gone =
        s.mode === 'NORMAL' ? s.selectedTools.filter((name) => fromGone.some((t) => t.tool.name === name)) : [];
      const names = fromGone.map((t) => t.source?.instance).filter((n, i, all) => n && all.indexOf(n) === i);
      await tx.mcpServer.update({
        where: { id: s.id },
        data: {
          reservedToolNames,
          ...(gone.length > 0
            ? {
                selectedTools: s.selectedTools.filter((n) => !gone.includes(n)),
                bindingWarnings: [
                  ...(s.bindingWarnings ?? []),
                  `connector instance "${names.join('", "')}" ${why}: tools ${gone.join(', ')} were removed from this server`,
                ],
              }
            : {}),
        },
      });
      touched.push(s.id);
    }
    return touched;
  }

  /**
   * Deletes connector instances (and what refers to them) inside one change: the servers generated for them
   * deleted (`removedServers`, their catalogs and secrets go after commit), other servers bound to them
   * detached, rows deleted, credentials deleted after commit. `connections`: the external users' connections
   * deleted with them (their own accounts are ended after commit: `PeopleConnections.endForInstances`).
   */
  deleteInstancesWrites(
    tx: Tx,
    instances: { id: string; name: string; workspaceId: string; credentialKeys: string[] }[],
    why: string,
  ) {
    return (async () => {
      const ids = instances.map((i) => i.id);
      const removedServers = await deleteInstanceServers(tx, ids);
      const serverIds = await this.detachInstances(tx, instances, why);
      // External users' own credentials for these instances go too.
      const connections = await tx.userConnection.findMany({
        where: { connectorInstanceId: { in: ids } },
        include: { user: { select: { workspaceId: true } } },
      });
      await tx.userConnection.deleteMany({ where: { connectorInstanceId: { in: ids } } });
      await tx.connectorInstance.deleteMany({ where: { id: { in: ids } } });
      return {
        serverIds,
        removedServers,
        connections,
        prefixes: [
          ...instances.map((i) => credentialSecretPrefix(i.workspaceId, i.id)),
          ...connections.map((c) => userCredentialSecretPrefix(c.user.workspaceId, c.userId, c.connectorInstanceId)),
        ],
      };
    })();
  }

  /** Deletes every secret under the prefixes (after commit). */
  async deleteSecretPrefixes(prefixes: string[]): Promise<void> {
    for (const p of prefixes) await this.deleteSecretsUnder(p);
  }

  /**
   * Republishes the latest committed catalog of every server whose Redis copy is missing or older
   * (`all`: every server, e.g. after Redis lost its data). Returns how many were published.
   */
  async reconcile(opts: { all?: boolean } = {}): Promise<number> {
    // A first look without locks finds what may need work: servers whose Redis copy is missing or older
    // (all of them with `all`), and Redis catalogs of servers PostgreSQL no longer has (the removal after
    // the commit failed). Each of those is then decided again under its publication lock from a fresh read
    // (ADR 0017): a change committed meanwhile publishes after this, or this reads it. A server created
    // after the listing was published by its own change.
    const inRedis = new Set(await this.publisher.publishedCatalogServerIds());
    const listed = await this.db.mcpServer.findMany({
      where: { catalogVersion: { gt: 0 } },
      select: { id: true, catalogVersion: true },
    });
    const live = new Set(listed.map((s) => s.id));
    const candidates = [...inRedis].filter((id) => !live.has(id));
    for (const s of listed) {
      const published = opts.all ? undefined : await this.publisher.publishedCatalogVersion(s.id);
      if (published === undefined || published < s.catalogVersion) candidates.push(s.id);
    }
    let published = 0;
    for (const id of candidates) {
      const done = await this.publisher.exclusive(publicationResources.catalog(id), async () => {
        const s = isUuid(id)
          ? await this.db.mcpServer.findUnique({ where: { id }, select: { catalogVersion: true } })
          : null;
        if (!s || s.catalogVersion === 0) {
          if (inRedis.has(id)) await this.publisher.removeCatalog(id);
          return false;
        }
        if (!opts.all) {
          const inRedisNow = await this.publisher.publishedCatalogVersion(id);
          if (inRedisNow !== undefined && inRedisNow >= s.catalogVersion) return false;
        }
        const v = await this.db.catalogVersion.findUnique({
          where: { serverId_version: { serverId: id, version: s.catalogVersion } },
        });
        if (!v) return false;
        await this.publisher.publishCatalog(v.catalog as Catalog, { force: opts.all === true });
        return true;
      });
      if (done) published++;
    }
    return published;
  }

  /** Every server's latest committed catalog, published again, replacing whatever Redis holds (Redis lost or has foreign data). */
  republishAll(): Promise<number> {
    return this.reconcile({ all: true });
  }

  /** Runs `reconcile()` every `intervalMs`; one run at a time. */
  startReconciler(intervalMs: number): { stop(): Promise<void> } {
    let running: Promise<unknown> | undefined;
    const timer = setInterval(() => {
      if (running) return;
      running = this.reconcile()
        .then((n) => {
          if (n > 0) this.log?.info({ republished: n }, 'catalogs missing or stale in Redis republished');
        })
        .catch((err: unknown) => this.log?.error({ err }, 'catalog reconciliation failed'))
        .finally(() => (running = undefined));
    }, intervalMs);
    timer.unref();
    return {
      async stop() {
        clearInterval(timer);
        await running;
      },
    };
  }
}
