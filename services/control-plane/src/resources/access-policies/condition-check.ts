import { compileCondition, type JsonSchema } from '@toolplane/conditions';
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

/**
 * A condition's problems (ADR 0036): syntax, names, types, cost, and the arguments it names against the
 * input schemas of the tools (and event types, ADR 0081) the policy grants, read from the servers' live catalogs (for several tools, a schema
 * that is any of theirs). A grant naming no tool a live catalog has yet is checked without a schema. Each problem is
 * a `/condition` issue of the 422.
 */
export async function conditionIssues(db: Db, workspaceId: string, target: ConditionTarget): Promise<ProblemIssue[]> {
  const schemas = await grantedInputSchemas(db, workspaceId, target);
  const result = compileCondition(target.condition, { inputSchema: oneSchema(schemas) });
  if (result.ok) return [];
  return result.problems.map((p) => ({ path: '/condition', message: p.message }));
}

/** The input schemas of the tools the policy grants on its servers (`*`: every server, every tool). */
async function grantedInputSchemas(db: Db, workspaceId: string, target: ConditionTarget): Promise<JsonSchema[]> {
  const allServers = target.servers.includes('*');
  const servers = await db.mcpServer.findMany({
    where: { workspaceId, ...(allServers ? {} : { id: { in: target.servers.filter(isUuid) } }) },
    select: { id: true, catalogVersion: true },
  });
  if (servers.length === 0) return [];
  const versions = await db.catalogVersion.findMany({
    where: { OR: servers.map((s) => ({ serverId: s.id, version: s.catalogVersion })) },
    select: { catalog: true },
  });
  const allTools = target.tools.includes('*');
  const names = new Set(target.tools);
  const schemas: JsonSchema[] = [];
  for (const v of versions) {
    const catalog = v.catalog as unknown as Catalog;
    for (const t of catalog.tools ?? [])
      if (allTools || names.has(t.tool.name)) schemas.push(t.tool.inputSchema as JsonSchema);
    // An event type is granted by its name as a tool is (ADR 0081): `args` are its subscription's arguments, and,
    // when the worker gives it an occurrence, `args.event` (its `data` as the provider sent it).
    for (const e of catalog.events ?? [])
      if (allTools || names.has(e.event.name)) schemas.push(eventConditionSchema(e.event.inputSchema as JsonSchema));
  }
  return schemas;
}

/** An event type's arguments as its conditions see them: the subscription's, and the occurrence's under `event`. */
function eventConditionSchema(input: JsonSchema): JsonSchema {
  const schema = input as Record<string, unknown> & { properties?: Record<string, unknown> };
  const properties = schema.properties ?? {};
  const event = {
    type: 'object',
    properties: { eventId: { type: 'string' }, name: { type: 'string' }, timestamp: { type: 'string' }, data: {} },
  };
  return { ...schema, properties: { ...properties, event } } as JsonSchema;
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
