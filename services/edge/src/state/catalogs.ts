import {
  Catalog,
  isOutboundLabel,
  redisKeys,
  type ApprovalRule,
  type CatalogTool,
  type LabelSource,
  type OutboundLabel,
  type RedisKeys,
  type ResultLabel,
} from '@toolplane/contracts';
import { portableRules, settingsFor, type PortableRule } from '@toolplane/access';
import { compileGuardrails, guardrailsFor, scans, type CompiledGuardrail } from '@toolplane/guardrails';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { RedisClient } from '@toolplane/redis';
import { listedTools } from '../code-mode/code-declarations.ts';
import { readState, type RuntimeStateProbe } from './runtime-state.ts';
import { metaTools, ToolSearch } from '../smart/smart-mode.ts';
import { TtlCache } from './ttl-cache.ts';
import { takesUpstreamCredential } from '../identity/upstream-auth.ts';

export interface LoadedTool {
  def: CatalogTool['tool'];
  validate: ValidateFunction;
  /**
   * Workflow tools only: the job carries the caller's `Config-*` headers (and, when opted in, their OAuth token);
   * `hostedSteps`: its steps call hosted servers' tools, which the worker decides for the caller (ADR 0045).
   */
  workflow?: { callerToken: boolean; hostedSteps?: true };
  /** What the rules on its calls read of it, a key per capability (the call pipeline's stages, ADR 0077). */
  rules: ToolRules;
}

/** A tool's own rules, read once per catalog version: a stage a tool has no rule for is left out of its plan. */
interface ToolRules {
  /** Connector and OpenAPI tools that send a credential upstream: a caller's `X-Upstream-Authorization` may replace it. */
  upstreamCredential?: true;
  /** A person confirms each call first (pipeline/confirmation.ts, ADR 0038). */
  confirm?: true;
  /** Someone else approves each call first (pipeline/approval.ts, ADR 0049): the rule. */
  approval?: ApprovalRule;
  /** Runs only as a durable task (`execution.taskSupport: required`): a call that is not one is refused. */
  taskOnly?: true;
  /** Cost units of one call (ADR 0048); absent: 1. */
  cost?: number;
  /** The guardrails that scan its calls' arguments (pipeline/argument-guardrails.ts, ADR 0050). */
  argumentGuardrails?: CompiledGuardrail[];
  /**
   * Its results are cached (pipeline/cache.ts, ADR 0067): TTL and scope. `ttlMs` 0: an external MCP tool nobody
   * configured, cached per principal only as each result declares (`ttlMs`, `cacheScope`).
   */
  cache?: NonNullable<CatalogTool['cache']>;
  /**
   * Its data-flow labels (ADR 0078, pipeline/session.ts): what each result brings into the caller's session, and
   * whether it sends data out (judged by the session rules). Absent: none.
   */
  labels?: ToolLabels;
  /** Guardrails scan its results (their findings label the session): the session stage hands the worker the session. */
  scannedResults?: true;
  /**
   * The portable rules (ADR 0101) its server's `ruleSettings` set that apply to it, with their settings as parsed
   * (`invalid`: unreadable, the rule refuses): each is a stage of its plan (pipeline/portable.ts). Absent: none.
   */
  portable?: ReadonlyMap<string, { settings: unknown } | 'invalid'>;
}

/** A tool's labels, split as the session stage reads them. */
interface ToolLabels {
  /** What each result brings (`private`, `untrusted`) and how it was found. */
  readonly results: readonly { label: ResultLabel; source: LabelSource }[];
  /** How it sends data out (`public_write`, `external_write`): session rules judge its calls. */
  readonly outbound: readonly OutboundLabel[];
}

/** A catalog tool's labels, split; undefined when it has none. */
function toolLabels(labels: CatalogTool['labels']): ToolLabels | undefined {
  if (!labels?.length) return undefined;
  const results: { label: ResultLabel; source: LabelSource }[] = [];
  const outbound: OutboundLabel[] = [];
  for (const { label, source } of labels) {
    if (isOutboundLabel(label)) outbound.push(label);
    else results.push({ label, source });
  }
  return { results, outbound };
}

type RuleSettings = ReadonlyMap<PortableRule, { settings: unknown } | 'invalid'>;

/** A catalog's `ruleSettings`, each portable rule's parsed by its own schema; undefined when none sets one. */
function serverRuleSettings(all: Record<string, unknown>): RuleSettings | undefined {
  const out = new Map<PortableRule, { settings: unknown } | 'invalid'>();
  for (const rule of portableRules) {
    const settings = settingsFor(rule, all);
    if (settings !== undefined) out.set(rule, settings);
  }
  return out.size > 0 ? out : undefined;
}

/** The portable rules a tool meets, by name: those it applies to (all of them when their settings are unreadable). */
function portableOf(all: RuleSettings, tool: CatalogTool['tool']): LoadedTool['rules']['portable'] {
  let out: Map<string, { settings: unknown } | 'invalid'> | undefined;
  for (const [rule, settings] of all)
    if (settings === 'invalid' || rule.appliesTo(tool, settings.settings)) (out ??= new Map()).set(rule.name, settings);
  return out;
}

/** An external MCP tool's cache when its server's config names none: what each of its results declares. */
const AS_DECLARED: NonNullable<CatalogTool['cache']> = { ttlMs: 0, scope: 'principal' };

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
    // Guardrails on arguments, compiled once per version: a catalog without any adds nothing to its tools.
    const onArguments = catalog.guardrails?.some((g) => scans(g, 'arguments'))
      ? compileGuardrails(catalog.guardrails, 'arguments')
      : undefined;
    const onResults = catalog.guardrails?.some((g) => scans(g, 'results'))
      ? compileGuardrails(catalog.guardrails, 'results')
      : undefined;
    // The portable rules the server sets (ADR 0101), their settings parsed once per version.
    // A rule that meets every server's tools (the task grant, ADR 0108) is there without a setting.
    const ruleSettings = serverRuleSettings(catalog.ruleSettings ?? {});
    const tools = new Map<string, LoadedTool>();
    for (const t of catalog.tools) {
      const rules: ToolRules = {};
      const tool: LoadedTool = { def: t.tool, validate: this.compile(t.tool.inputSchema), rules };
      if (t.plan.kind === 'workflow')
        tool.workflow = {
          callerToken: t.plan.callerToken === true,
          ...(Object.values(t.plan.tools ?? {}).some((s) => s.serverId !== undefined) ? { hostedSteps: true } : {}),
        };
      else if (takesUpstreamCredential(t)) rules.upstreamCredential = true;
      if (t.confirm) rules.confirm = true;
      if (t.approval) rules.approval = t.approval;
      if (t.cost !== undefined) rules.cost = t.cost;
      if (t.cache) rules.cache = t.cache;
      else if (t.plan.kind === 'mcp') rules.cache = AS_DECLARED;
      if (t.tool.execution?.taskSupport === 'required') rules.taskOnly = true;
      const guardrails = onArguments && guardrailsFor(onArguments, t.tool.name);
      if (guardrails?.length) rules.argumentGuardrails = guardrails;
      const labels = toolLabels(t.labels);
      if (labels) rules.labels = labels;
      if (onResults && guardrailsFor(onResults, t.tool.name).length > 0) rules.scannedResults = true;
      if (ruleSettings) {
        const portable = portableOf(ruleSettings, t.tool);
        if (portable) rules.portable = portable;
      }
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
