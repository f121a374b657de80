import type { Catalog, CatalogTool } from '@toolplane/contracts';
import { ValidationError, type ProblemIssue } from '@toolplane/errors';

/**
 * Results cached per tool (ADR 0067): a server's `config.resultCache` maps tool names to `{ ttlSeconds, scope? }`; the
 * edge then answers an identical call of the same principal (`scope: "principal"`, the default) or of any caller of
 * the server (`scope: "server"`) from Redis for that long. Only a tool that cannot change anything may be cached: an
 * HTTP GET operation marked `readOnlyHint`, or an external MCP server's tool (its server vouches by being named here).
 * Checked when the server is saved (422, every problem listed: a bad entry, a write tool); a name the server does not
 * expose is a warning of its catalog, as `config.resultShapes`. A tool that became a write tool since (its connector
 * changed) loses its cache with a warning, never the whole catalog.
 */

type Cache = NonNullable<CatalogTool['cache']>;

/** The longest a result may be cached: a day. */
const MAX_TTL_SECONDS = 86_400;

/** `config.resultCache` as stored (absent or not an object: none). */
function entriesOf(config: unknown): [string, unknown][] {
  const cache = (config as { resultCache?: unknown } | null | undefined)?.resultCache;
  return cache !== null && typeof cache === 'object' && !Array.isArray(cache)
    ? Object.entries(cache as Record<string, unknown>)
    : [];
}

/** A tool's name as a JSON pointer's segment. */
const pointer = (name: string) => name.replaceAll('~', '~0').replaceAll('/', '~1');

const at = (tool: string) => `/config/resultCache/${pointer(tool)}`;

/** One entry's cache and problems. */
function cacheEntry(path: string, raw: unknown): { cache?: Cache; problems: ProblemIssue[] } {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    return { problems: [{ path, message: 'a result cache is an object: { ttlSeconds, scope? }' }] };
  const { ttlSeconds, scope, ...rest } = raw as Record<string, unknown>;
  const problems: ProblemIssue[] = Object.keys(rest).map((k) => ({
    path: `${path}/${k}`,
    message: `unknown member "${k}" (a result cache has ttlSeconds and scope)`,
  }));
  if (!(Number.isInteger(ttlSeconds) && (ttlSeconds as number) > 0 && (ttlSeconds as number) <= MAX_TTL_SECONDS))
    problems.push({
      path: `${path}/ttlSeconds`,
      message: `ttlSeconds is a whole number from 1 to ${MAX_TTL_SECONDS}`,
    });
  if (scope !== undefined && scope !== 'principal' && scope !== 'server')
    problems.push({
      path: `${path}/scope`,
      message: 'scope is "principal" (each caller their own answers, the default) or "server" (shared)',
    });
  if (problems.length > 0) return { problems };
  return { cache: { ttlMs: (ttlSeconds as number) * 1000, scope: (scope as Cache['scope']) ?? 'principal' }, problems };
}

/** Every problem of a server config's `resultCache` entries (their form only), at its path. */
export function resultCacheProblems(config: unknown): ProblemIssue[] {
  return entriesOf(config).flatMap(([tool, raw]) => cacheEntry(at(tool), raw).problems);
}

/** Refuses (422, every problem listed) a server config whose `resultCache` entries are malformed. */
export function refuseBadResultCache(config: unknown): void {
  const problems = resultCacheProblems(config);
  if (problems.length > 0) throw new ValidationError('the result cache is invalid', problems);
}

/** Why a tool may not be cached (undefined: it may): only what cannot change anything upstream. */
function notCacheable(t: CatalogTool): string | undefined {
  const plan = t.plan;
  if (plan.kind === 'mcp') return undefined;
  if (plan.kind === 'workflow') return 'a workflow tool may not be cached (its steps may write)';
  if (plan.method !== 'GET') return `a ${plan.method} operation may write: only read-only GET tools may be cached`;
  if (t.tool.annotations?.readOnlyHint !== true) return 'a GET operation not marked readOnlyHint may not be cached';
  return undefined;
}

/**
 * Gives each tool of `config.resultCache` its cache. A tool that may not be cached is refused (422 listing each, at
 * its path) when `strict` (the config was just set), else left uncached with a warning; a name the server does not
 * expose is a warning.
 */
export function markCached(catalog: Catalog, config: unknown, strict: boolean): Catalog {
  const entries = entriesOf(config);
  if (entries.length === 0) return catalog;
  const wanted = new Map<string, Cache>();
  for (const [tool, raw] of entries) {
    const { cache } = cacheEntry('', raw);
    if (cache) wanted.set(tool, cache);
  }
  const refused: ProblemIssue[] = [];
  const tools = catalog.tools.map((t) => {
    const cache = wanted.get(t.tool.name);
    if (!cache) return t;
    const why = notCacheable(t);
    if (why) {
      refused.push({ path: at(t.tool.name), message: why });
      return t;
    }
    return { ...t, cache };
  });
  if (refused.length > 0 && strict) throw new ValidationError('the result cache names tools that may write', refused);
  const exposed = new Set(catalog.tools.map((t) => t.tool.name));
  const warnings = [
    ...entries
      .filter(([name]) => !exposed.has(name))
      .map(([name]) => `tool "${name}" has a result cache (config.resultCache), but the server does not expose it`),
    ...refused.map((p) => `tool at ${p.path} is not cached: ${p.message}`),
  ];
  return {
    ...catalog,
    tools,
    ...(warnings.length > 0 ? { warnings: [...(catalog.warnings ?? []), ...warnings] } : {}),
  };
}
