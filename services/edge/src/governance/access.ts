import { randomUUID } from 'node:crypto';
import { hiddenToolRefusal, type ToolGrant } from '@toolplane/access';
import {
  recordCaller,
  redisKeys,
  WorkspaceAccess,
  type Catalog,
  type CatalogTool,
  type ExternalFeatures,
  type Principal,
  type RedisKeys,
  type ToolResultPayload,
} from '@toolplane/contracts';
import type { ExecutionRecordSink } from '@toolplane/queue';
import { currentTraceIds, recordDenied, recordToolCall } from '@toolplane/telemetry';
import type { RedisClient } from '@toolplane/redis';
import type { LoadedCatalog } from '../state/catalogs.ts';
import { listedTools } from '../code-mode/code-declarations.ts';
import { readState, stateMessages, stateUnavailable } from '../state/runtime-state.ts';
import { metaTools, ToolSearch } from '../smart/smart-mode.ts';
import { TtlCache } from '../state/ttl-cache.ts';

/**
 * Access policies on the edge (ADR 0013). Each workspace's policies come from Redis (published by
 * the control plane, cached here, dropped on the access channel), so a decision never touches the
 * database. Allow rules only: whatever no rule grants is denied, except that API keys no policy
 * names keep access to every server of their workspace (bounded by the key's `serverIds`). The decision
 * itself (`decideAccess`, conditional grants) is `@toolplane/access`, which the control plane explains with.
 */
export class AccessPolicyCache {
  private readonly cache: TtlCache<WorkspaceAccess>;
  private readonly keys: RedisKeys;
  private readonly redis: RedisClient;
  private lastReport = 0;
  constructor(redis: RedisClient, prefix: string, limits: { ttlMs: number; max: number }) {
    this.redis = redis;
    this.cache = new TtlCache({ ttlMs: limits.ttlMs, max: limits.max });
    this.keys = redisKeys(prefix);
  }

  /** Tells the control plane that state is missing (it then republishes), at most once per 5 s per edge. */
  private reportMissing(workspaceId: string): void {
    if (Date.now() - this.lastReport < 5000) return;
    this.lastReport = Date.now();
    this.redis.publish(this.keys.stateMissing, workspaceId).catch(() => undefined);
  }

  invalidate(workspaceId: string | undefined): void {
    this.cache.invalidate(workspaceId);
  }

  /**
   * The workspace's policies. The control plane publishes a document for every workspace, even one
   * without policies, so a missing document means the state is missing (Redis lost it): that denies,
   * with a retryable `state.unavailable` error, and is not cached (never read as "no policies"), and the
   * control plane is told so that it republishes (a lost document alone leaves its marker in place).
   */
  get(workspaceId: string): Promise<WorkspaceAccess> {
    return this.cache.get(workspaceId, async () => {
      const raw = await readState(() => this.redis.get(this.keys.access(workspaceId)));
      if (!raw) {
        this.reportMissing(workspaceId);
        throw stateUnavailable(stateMessages.access);
      }
      return WorkspaceAccess.parse(JSON.parse(raw));
    });
  }
}

const views = new WeakMap<LoadedCatalog, Map<string, LoadedCatalog>>();

/**
 * The catalog as this caller may see it: `tools/list`, SMART search and connections show allowed
 * tools only, and `restriction` lets `tools/call` tell a denied tool from an unknown one. Views are
 * cached per catalog version and grant; a full grant returns the catalog itself (no cost).
 */
export function restrictCatalog(loaded: LoadedCatalog, grant: ToolGrant, who: string): LoadedCatalog {
  if (grant === 'all') return loaded;
  const cacheKey = `${who}\u0000${[...grant].sort().join('\u0000')}`;
  let byGrant = views.get(loaded);
  const hit = byGrant?.get(cacheKey);
  if (hit) return hit;
  const tools = new Map([...loaded.tools].filter(([name]) => grant.has(name)));
  const catalogTools = loaded.catalog.tools.filter((t) => grant.has(t.tool.name));
  const smart = loaded.catalog.mode === 'SMART';
  const external = loaded.catalog.external && restrictExternal(loaded.catalog.external, grant, catalogTools);
  // A view of a view (a narrowed token's, of its parent's) grants the intersection: never a name the parent is not
  // granted (event types are granted by name, as tools are).
  const parent = loaded.restriction;
  const granted = parent
    ? (name: string) => grant.has(name) && (parent.granted?.(name) ?? false)
    : (name: string) => grant.has(name);
  const view: LoadedCatalog = {
    ...loaded,
    catalog: { ...loaded.catalog, tools: catalogTools, ...(external ? { external } : {}) },
    tools,
    list: listedTools(loaded.catalog, catalogTools, smart ? metaTools : catalogTools.map((t) => t.tool)),
    ...(smart ? { search: new ToolSearch(catalogTools) } : {}),
    restriction: {
      hidden: (name: string) => loaded.tools.has(name) && !tools.has(name),
      who,
      granted,
    },
  };
  if (!byGrant) views.set(loaded, (byGrant = new Map()));
  if (byGrant.size > 1000) byGrant.clear();
  byGrant.set(cacheKey, view);
  return view;
}

/**
 * What external MCP servers offer besides tools, as a caller with a partial grant sees it: a prompt is granted by its
 * name (as a tool is); a server's resources and resource templates go with it, to callers granted any of its tools or
 * prompts. Completions follow the same rule (they complete a visible prompt or template only).
 */
function restrictExternal(
  external: readonly ExternalFeatures[],
  grant: ReadonlySet<string>,
  visibleTools: readonly CatalogTool[],
): ExternalFeatures[] {
  const usedServers = new Set(visibleTools.flatMap((t) => (t.plan.kind === 'mcp' ? [t.plan.server] : [])));
  return external.flatMap((f) => {
    const prompts = f.prompts.filter((p) => grant.has(String(p.prompt.name)));
    if (prompts.length === 0 && !usedServers.has(f.server)) return [];
    return [{ ...f, prompts }];
  });
}

/**
 * For a tool hidden from this caller: the `isError` result saying so (and, unless `record` is false,
 * an execution record of the refusal). Undefined when the name is not a denied tool.
 */
export function deniedToolCall(
  records: Pick<ExecutionRecordSink, 'add'>,
  call: {
    readonly loaded: LoadedCatalog;
    readonly principal: Principal;
    readonly parentInvocationId?: string | undefined;
  },
  name: string,
  record = true,
): ToolResultPayload | undefined {
  const { loaded } = call;
  const restriction = loaded.restriction;
  if (!restriction?.hidden(name)) return undefined;
  const message = hiddenToolRefusal(restriction.who, name);
  if (record) {
    recordDenied('policy');
    recordToolCall(loaded.catalog.serverId, name, 'rejected', 0);
    const parent = call.parentInvocationId;
    writeDenial(records, call.principal, { catalog: loaded.catalog, tool: name, message, parent });
  }
  return { content: [{ type: 'text', text: message }], isError: true };
}

/** An execution record for a call refused by access control (outcome `rejected`, code `access.denied`). */
export function writeDenial(
  records: Pick<ExecutionRecordSink, 'add'>,
  principal: Principal,
  denial: {
    catalog: Pick<Catalog, 'serverId' | 'version'>;
    tool: string;
    message: string;
    parent?: string | undefined;
  },
): void {
  records.add({
    v: 1,
    invocationId: randomUUID(),
    ...(denial.parent ? { parentInvocationId: denial.parent } : {}),
    workspaceId: principal.workspaceId,
    serverId: denial.catalog.serverId,
    catalogVersion: denial.catalog.version,
    tool: denial.tool,
    caller: recordCaller(principal),
    startedAt: new Date().toISOString(),
    durationMs: 0,
    outcome: 'rejected',
    errorCode: 'access.denied',
    message: denial.message,
    steps: [],
    ...currentTraceIds(),
  });
}
