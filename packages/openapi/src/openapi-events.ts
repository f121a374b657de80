import { deref, type Json } from './json-pointer.ts';
import { schemaBuilder } from './schema-defs.ts';

/**
 * MCP event types from an OpenAPI 3.1 document's `webhooks` (docs/events.md "Event types from OpenAPI 3.1 webhooks"):
 * each webhook whose `post` operation says which provider deliveries make it (`x-toolplane-event`:
 * `{provider, types}`) is one event type: named by its `operationId` (else its key), its payload the JSON Schema of its
 * `application/json` request body (self-contained: references in `$defs`), its subscription arguments those of
 * `x-toolplane-event-filters` (`{<argument>: {schema, pointer}}`: the argument's schema, and the JSON Pointer into the
 * payload it must equal). Webhooks without the extension are not event types (a problem says so).
 */

export interface OpenApiEventType {
  event: {
    name: string;
    title?: string;
    description?: string;
    inputSchema: Record<string, unknown>;
    payloadSchema?: Record<string, unknown>;
    delivery: ('poll' | 'push' | 'webhook')[];
  };
  match: { provider: 'github' | 'stripe' | 'slack' | 'standard'; types: string[] };
  filters?: Record<string, string>;
}

const providers = new Set(['github', 'stripe', 'slack', 'standard']);
const NAME = /^[A-Za-z0-9_.\-/]{1,128}$/;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function matchOf(ext: unknown): OpenApiEventType['match'] | undefined {
  if (!isObject(ext) || typeof ext.provider !== 'string' || !providers.has(ext.provider)) return undefined;
  const types = Array.isArray(ext.types) ? ext.types.filter((t): t is string => typeof t === 'string' && t !== '') : [];
  if (types.length === 0) return undefined;
  return { provider: ext.provider as OpenApiEventType['match']['provider'], types };
}

/** `x-toolplane-event-filters` → the arguments' schema and the pointers; a malformed entry is a problem. */
function argumentsOf(
  ext: unknown,
  problem: (m: string) => void,
): { inputSchema: Json; filters?: Record<string, string> } {
  if (!isObject(ext)) return { inputSchema: { type: 'object' } };
  const properties: Json = {};
  const filters: Record<string, string> = {};
  for (const [arg, spec] of Object.entries(ext)) {
    if (!isObject(spec) || typeof spec.pointer !== 'string' || !/^(\/[^/]*)*$/.test(spec.pointer)) {
      problem(`x-toolplane-event-filters.${arg} needs {schema, pointer} with a JSON Pointer`);
      continue;
    }
    properties[arg] = isObject(spec.schema) ? spec.schema : {};
    filters[arg] = spec.pointer;
  }
  const inputSchema = { type: 'object', properties, additionalProperties: false };
  return Object.keys(filters).length > 0 ? { inputSchema, filters } : { inputSchema };
}

export function compileOpenApiEvents(doc: Json): { events: OpenApiEventType[]; problems: string[] } {
  const events: OpenApiEventType[] = [];
  const problems: string[] = [];
  const webhooks = doc.webhooks;
  if (!isObject(webhooks)) return { events, problems };
  const builder = schemaBuilder(doc, 'output');
  for (const [key, item] of Object.entries(webhooks)) {
    const op = deref(doc, (deref(doc, item) as Json | undefined)?.post) as Json | undefined;
    const problem = (m: string) => problems.push(`webhook "${key}": ${m}`);
    if (!isObject(op)) continue;
    const match = matchOf(op['x-toolplane-event']);
    if (!match) {
      problem('not an event type: no x-toolplane-event {provider, types}');
      continue;
    }
    const name = typeof op.operationId === 'string' ? op.operationId : key;
    if (!NAME.test(name)) {
      problem(`"${name}" is not an event type name (letters, digits, _ . - /, at most 128)`);
      continue;
    }
    const body = deref(doc, op.requestBody) as Json | undefined;
    const schema = (body?.content as Json | undefined)?.['application/json'] as Json | undefined;
    const refs = new Set<string>();
    const payload = isObject(schema?.schema) ? (builder.rewrite(schema.schema, refs) as Json) : undefined;
    if (payload && refs.size > 0) payload.$defs = builder.defs(refs);
    const { inputSchema, filters } = argumentsOf(op['x-toolplane-event-filters'], problem);
    events.push({
      event: {
        name,
        ...(typeof op.summary === 'string' ? { title: op.summary } : {}),
        ...(typeof op.description === 'string' ? { description: op.description } : {}),
        inputSchema,
        ...(payload ? { payloadSchema: payload } : {}),
        delivery: ['poll', 'push', 'webhook'],
      },
      match,
      ...(filters ? { filters } : {}),
    });
  }
  return { events, problems };
}
