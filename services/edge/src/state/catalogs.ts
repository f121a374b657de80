import { Catalog, redisKeys, type CatalogTool, type RedisKeys } from '@toolplane/contracts';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RedisClient } from '@toolplane/redis';
import { listedTools } from '../code-mode/code-declarations.ts';
import { toolFactsOf, type ToolRules } from '../pipeline/tool-facts.ts';
import { readState, type RuntimeStateProbe } from './runtime-state.ts';
import { metaTools, ToolSearch } from '../smart/smart-mode.ts';
import { TtlCache } from './ttl-cache.ts';

export interface LoadedTool {
  def: CatalogTool['tool'];
  validate: ValidateFunction;
  /**
   * Workflow tools only: the job carries the caller's `Config-*` headers (and, when opted in, their OAuth token);
   * `hostedSteps`: its steps call hosted servers' tools, which the worker decides for the caller (ADR 0045).
   */
  workflow?: { callerToken: boolean; hostedSteps?: true };
  /**
   * What the rules on its calls read of it, a fact per rule, compiled once per catalog version by each rule's own
   * compiler (`pipeline/tool-facts.ts`, ADR 0115): a stage a tool has no fact for is left out of its plan.
   */
  rules: ToolRules;
}

export interface LoadedCatalog {
  catalog: Catalog;
  /** The catalog's tools (what `tools/call` runs in NORMAL mode, what `execute_tool` runs in SMART mode). */
  tools: Map<string, LoadedTool>;
  /** SMART mode: the meta tools, handled on the edge. */
  meta: Map<string, LoadedTool>;
  search?: ToolSearch;
  /** `tools/list` payload, built once per version (deterministic order: catalog order). */
  list: CatalogTool['tool'][];
  /** Set on a caller's restricted view (access policies, see governance/access.ts): which tools are hidden from whom. */
  restriction?: {
    hidden: (name: string) => boolean;
    who: string;
    /** Whether the grant names this (an event type's name is granted as a tool's is: ADR 0081). */
    granted?: (name: string) => boolean;
  };
}

export interface CatalogCacheLimits {
  /** Most catalogs kept (least recently used evicted). */
  max: number;
  /** How long "no such server" is remembered: unknown ids come from anyone, so they age out fast. */
  negativeTtlMs: number;
}

/**
 * Catalogs by server id, loaded from Redis on first use with their argument validators compiled
 * once, at most `max` of them. A message on the catalog channel drops a server's entry, so the next
 * call sees the new version without a restart.
 */
export class CatalogCache {
  private readonly cache: TtlCache<LoadedCatalog | null>;
  private readonly keys: RedisKeys;
  private readonly ajv = new Ajv2020({ allErrors: true, strict: false, validateFormats: false });
  private readonly metaValidators = new Map(metaTools.map((t) => [t.name, this.ajv.compile(t.inputSchema)]));

  private readonly redis: RedisClient;
  private readonly state: RuntimeStateProbe;
  constructor(redis: RedisClient, prefix: string, limits: CatalogCacheLimits, state: RuntimeStateProbe) {
    this.redis = redis;
    this.state = state;
    this.keys = redisKeys(prefix);
    this.cache = new TtlCache({
      max: limits.max,
      negative: { is: (c) => c === null, ttlMs: limits.negativeTtlMs },
    });
  }

  invalidate(serverId: string | undefined): void {
    this.cache.invalidate(serverId || undefined);
  }

  /** Entries held (for tests and metrics). */
  get size(): number {
    return this.cache.size;
  }

  get(serverId: string): Promise<LoadedCatalog | null> {
    return this.cache.get(serverId, () => this.load(serverId));
  }

  /** A schema Ajv cannot compile (an external server's, say) must not take the whole catalog down: its tool then accepts any object. */
  private compile(schema: Record<string, unknown>): ValidateFunction {
    try {
      return this.ajv.compile(schema);
    } catch {
      return this.ajv.compile({ type: 'object' });
    }
  }

  /** Null (cached) only for a server that has no catalog; a catalog not restored yet throws `state.unavailable`. */
  private async load(serverId: string): Promise<LoadedCatalog | null> {
    const raw = await readState(() => this.redis.get(this.keys.catalog(serverId)));
    if (!raw) {
      await this.state.assertComplete();
      return null;
    }
    const catalog = Catalog.parse(JSON.parse(raw));
    // What each rule reads of each tool, compiled once per version by the rule's own compiler (ADR 0115).
    const factsOf = toolFactsOf(catalog);
    const tools = new Map<string, LoadedTool>();
    for (const t of catalog.tools) {
      const tool: LoadedTool = { def: t.tool, validate: this.compile(t.tool.inputSchema), rules: factsOf(t) };
      if (t.plan.kind === 'workflow')
        tool.workflow = {
          callerToken: t.plan.callerToken === true,
          ...(Object.values(t.plan.tools ?? {}).some((s) => s.serverId !== undefined) ? { hostedSteps: true } : {}),
        };
      tools.set(t.tool.name, tool);
    }
    if (catalog.mode === 'SMART') {
      const meta = new Map(
        metaTools.map((def) => [def.name, { def, validate: this.metaValidators.get(def.name)!, rules: {} }]),
      );
      const list = listedTools(catalog, catalog.tools, metaTools);
      return { catalog, tools, meta, search: new ToolSearch(catalog.tools), list };
    }
    return {
      catalog,
      tools,
      meta: new Map(),
      list: listedTools(
        catalog,
        catalog.tools,
        catalog.tools.map((t) => t.tool),
      ),
    };
  }
}

/** One line per problem, naming the argument, for an `isError` result the model can act on. */
export function describeArgumentErrors(errors: ErrorObject[] | null | undefined): string {
  const lines = (errors ?? []).map((e) => {
    const field = e.instancePath ? e.instancePath.slice(1).replace(/\//g, '.') : '';
    switch (e.keyword) {
      case 'required':
        return `missing required argument "${(e.params as { missingProperty: string }).missingProperty}"`;
      case 'additionalProperties':
        return `unknown argument "${(e.params as { additionalProperty: string }).additionalProperty}"`;
      default:
        return `argument "${field || '(root)'}" ${e.message ?? 'is invalid'}`;
    }
  });
  return [...new Set(lines)].join('; ');
}

/** Names of a catalog's tools proxied to external MCP servers (the only tools that can relay log messages or their own progress). */
const proxiedTools = new WeakMap<LoadedCatalog, Set<string>>();
export function isProxiedTool(loaded: LoadedCatalog, name: string): boolean {
  let names = proxiedTools.get(loaded);
  if (!names) {
    names = new Set(loaded.catalog.tools.filter((t) => t.plan.kind === 'mcp').map((t) => t.tool.name));
    proxiedTools.set(loaded, names);
  }
  return names.has(name);
}
