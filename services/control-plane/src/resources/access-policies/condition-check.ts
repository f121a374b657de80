import { compileCondition, eventConditionSchema, type JsonSchema } from '@toolplane/conditions';
import type { Catalog } from '@toolplane/contracts';
import type { ProblemIssue } from '@toolplane/errors';
import type { Db } from '../../db/client.ts';
import { isUuid } from '../../db/ids.ts';

/** What a policy grants, as far as its condition is checked: the servers and tools it names, and the condition. */
interface ConditionTarget {
  servers: readonly string[];
  tools: readonly string[];
  condition: string;
}

/** A tool (or event type) the policy grants, with its input schema as conditions read it. */
interface GrantedTool {
  server: string;
  name: string;
  schema: JsonSchema;
}

/** How many tools a problem of a condition names before "and N more". */
const NAMED_TOOLS = 5;

/**
 * A condition's problems (ADR 0036): syntax, names, types, cost, and the arguments it names against the
 * input schemas of the tools (and event types, ADR 0081) the policy grants, read from the servers' live catalogs. A
 * grant naming no tool a live catalog has yet is checked without a schema. The condition is checked against the
 * tools together first (a schema that is any of theirs: a misspelt argument is named once), then against each tool:
 * a condition that names an argument some granted tool does not have can never be evaluated for that tool's calls
 * (the edge would refuse or hold every one of them), so it is a problem unless the policy's `tools` are
 * scoped to the tools that have it. Each problem is a `/condition` issue of the 422.
 */
export async function conditionIssues(db: Db, workspaceId: string, target: ConditionTarget): Promise<ProblemIssue[]> {
  const tools = await grantedTools(db, workspaceId, target);
  const result = compileCondition(target.condition, { inputSchema: oneSchema(tools.map((t) => t.schema)) });
  if (!result.ok) return result.problems.map((p) => ({ path: '/condition', message: p.message }));
  return perToolIssues(target.condition, tools);
}

/** The granted tools the condition cannot be evaluated for, one issue per kind of problem (the tools it has it with). */
function perToolIssues(condition: string, tools: readonly GrantedTool[]): ProblemIssue[] {
  const bySchema = new Map<string, string | undefined>();
  const failing = new Map<string, string[]>();
  for (const t of tools) {
    const key = JSON.stringify(t.schema);
    if (!bySchema.has(key)) {
      const r = compileCondition(condition, { inputSchema: t.schema });
      // The problem's first part (`unknown argument "limit"`), without the tool's own arguments and the position.
      bySchema.set(key, r.ok ? undefined : (r.problems[0]?.message ?? 'invalid').split(/: | \(line /)[0]);
    }
    const problem = bySchema.get(key);
    if (problem === undefined) continue;
    const names = failing.get(problem) ?? [];
    names.push(`"${t.name}" (server "${t.server}")`);
    failing.set(problem, names);
  }
  return [...failing].map(([problem, names]) => {
    const shown = names.slice(0, NAMED_TOOLS).join(', ');
    const more = names.length > NAMED_TOOLS ? ` and ${names.length - NAMED_TOOLS} more` : '';
    return {
      path: '/condition',
      message:
        `the condition cannot be evaluated for ${names.length === 1 ? 'tool' : 'tools'} ${shown}${more} that the ` +
        `policy grants (${problem}): their calls would never be granted by it; list in "tools" only the tools ` +
        'that have the arguments it names',
    };
  });
}

/** The tools the policy grants on its servers (`*`: every server, every tool), with their input schemas. */
async function grantedTools(db: Db, workspaceId: string, target: ConditionTarget): Promise<GrantedTool[]> {
  const allServers = target.servers.includes('*');
  const servers = await db.mcpServer.findMany({
    where: { workspaceId, ...(allServers ? {} : { id: { in: target.servers.filter(isUuid) } }) },
    select: { id: true, name: true, catalogVersion: true },
  });
  if (servers.length === 0) return [];
  const versions = await db.catalogVersion.findMany({
    where: { OR: servers.map((s) => ({ serverId: s.id, version: s.catalogVersion })) },
    select: { serverId: true, catalog: true },
  });
  const serverNames = new Map(servers.map((s) => [s.id, s.name]));
  const allTools = target.tools.includes('*');
  const names = new Set(target.tools);
  const granted: GrantedTool[] = [];
  for (const v of versions) {
    const catalog = v.catalog as unknown as Catalog;
    const server = serverNames.get(v.serverId) ?? v.serverId;
    for (const t of catalog.tools ?? [])
      if (allTools || names.has(t.tool.name))
        granted.push({ server, name: t.tool.name, schema: t.tool.inputSchema as JsonSchema });
    // An event type is granted by its name as a tool is (ADR 0081): `args` are its subscription's arguments, and,
    // when the worker gives it an occurrence, `args.event` (its `data` as the provider sent it).
    for (const e of catalog.events ?? [])
      if (allTools || names.has(e.event.name))
        granted.push({ server, name: e.event.name, schema: eventConditionSchema(e.event.inputSchema as JsonSchema) });
  }
  return granted;
}

/** One schema for several: `{ anyOf: [...] }`, each one's local `$ref`s pointing into its own place. */
function oneSchema(schemas: JsonSchema[]): JsonSchema | undefined {
  const distinct = [...new Map(schemas.map((s) => [JSON.stringify(s), s])).values()];
  if (distinct.length <= 1) return distinct[0];
  return { anyOf: distinct.map((s, i) => rebase(s, `#/anyOf/${i}`)) } as JsonSchema;
}

/** A copy of `schema` whose local `$ref`s (`#/…`) resolve from `base` in the enclosing document. */
function rebase(schema: unknown, base: string): unknown {
  if (Array.isArray(schema)) return schema.map((x) => rebase(x, base));
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema))
    copy[k] = k === '$ref' && typeof v === 'string' && v.startsWith('#') ? base + v.slice(1) : rebase(v, base);
  return copy;
}
