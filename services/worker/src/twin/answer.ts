import type { CatalogTool, HttpOperationPlan, ToolResultPayload } from '@toolplane/contracts';
import { errorResult } from '../http-operation.ts';
import type { Invocation, ProcessorDeps } from '../invocation.ts';
import type { RunOutcome } from '../result-chain.ts';
import { crudShape, idField, itemParamOf, overlay, readOfCreate, type CrudShape } from './crud.ts';
import { generatedAnswer } from './generate.ts';
import type { TwinPlace, TwinStore } from './store.ts';

type Json = Record<string, unknown>;

/** Where a twin answer came from, said in its `_meta["toolplane/twin"]`. */
type TwinSource = 'state' | 'recording' | 'generated';

/**
 * A twin job's answer (ADR 0112), in this order: a CRUD-shaped HTTP operation against the twin's state (a read of an
 * object the twin never saw goes on), a recorded result of the same tool (the same arguments, else the nearest), then
 * the answer its description generates. An external MCP server's tool is answered from recordings only. Nothing here
 * resolves a credential or sends a request: the processor runs it `withoutUpstream`.
 */
export async function runTwin(deps: ProcessorDeps, call: Invocation, entry: CatalogTool): Promise<RunOutcome> {
  const { job } = call;
  const store = deps.twin;
  if (!store) throw new Error('a twin job reached a worker without the twin’s store');
  const at: TwinPlace = { workspaceId: job.principal.workspaceId, serverId: job.serverId, tool: job.tool };
  const plan = entry.plan;
  if (plan.kind === 'http') {
    const shape = crudShape(plan, job.arguments);
    let schemaOf = entry;
    if (shape?.kind === 'create') {
      const model = await createModel(deps, job, entry);
      Object.assign(shape, { idParam: model.idParam, numeric: model.numeric });
      schemaOf = model.schemaOf;
    }
    const generate = () => generatedAnswer(schemaOf) ?? {};
    const fromState = shape ? await stateAnswer(store, at, shape, generate) : undefined;
    if (fromState) return outcome(fromState.result, { source: 'state', operation: shape!.kind });
  }
  const recorded = await store.recorded(at, job.arguments);
  if (recorded) return outcome(recorded.result, { source: 'recording', exact: recorded.exact });
  if (plan.kind === 'mcp')
    return outcome(
      errorResult(
        `The twin has no recorded result of "${job.tool}": an external MCP server's tools are answered from ` +
          'recordings only (a server in twin mode "recording" keeps them).',
      ),
      { source: 'recording', exact: false },
    );
  const body = generatedAnswer(entry);
  const result = body === undefined ? { content: [{ type: 'text', text: '{}' }] } : jsonResult(body, httpPlan(plan));
  return outcome(result, { source: 'generated' });
}

/**
 * What a create's object looks like: its own answer's schema, else that of the read of what it creates (a create
 * often declares none), and the read's parameter, which names the identifier.
 */
async function createModel(deps: ProcessorDeps, job: Invocation['job'], entry: CatalogTool) {
  const read = readOfCreate(entry.plan as HttpOperationPlan, await deps.plans.tools(job.serverId, job.catalogVersion));
  const readPlan = read?.plan as HttpOperationPlan | undefined;
  const idParam = readPlan ? itemParamOf(readPlan) : undefined;
  // Whether the read takes the identifier as a number (`issue_number`: an integer).
  const arg = readPlan?.params.find((p) => p.in === 'path' && p.name === idParam)?.arg;
  const type = (read?.tool.inputSchema.properties as Json | undefined)?.[arg ?? ''] as Json | undefined;
  const numeric = type?.type === 'integer' || type?.type === 'number';
  return { schemaOf: entry.tool.outputSchema || !read ? entry : read, idParam, numeric };
}

const httpPlan = (plan: CatalogTool['plan']) => (plan.kind === 'http' ? plan : undefined);

/** The twin's answer, marked with where it came from. */
function outcome(result: ToolResultPayload, twin: { source: TwinSource } & Json): RunOutcome {
  const marked = { ...result, _meta: { ...result._meta, 'toolplane/twin': twin } };
  return {
    result: marked,
    secretValues: [],
    ok: !result.isError,
    ...(result.isError ? { failure: { errorCode: 'upstream.http_error' } } : {}),
  };
}

/** A JSON answer as an HTTP tool's result: its text, and its structured content (wrapped as the plan says). */
function jsonResult(body: Json, plan: HttpOperationPlan | undefined): ToolResultPayload {
  const wrap = plan?.output?.wrap;
  const value = wrap !== undefined ? body[wrap] : body;
  return { content: [{ type: 'text', text: JSON.stringify(value ?? null) }], structuredContent: body };
}

const notFound = (shape: CrudShape) =>
  errorResult(`The upstream API answered HTTP 404. Body: {"message":"Not Found","id":${JSON.stringify(shape.id)}}`);

/** A CRUD operation against the twin's state: its answer, or undefined when the twin never saw the object read. */
async function stateAnswer(
  store: TwinStore,
  at: TwinPlace,
  shape: CrudShape,
  generate: () => Json,
): Promise<{ result: ToolResultPayload } | undefined> {
  const { collection } = shape;
  if (shape.kind === 'create') {
    const created = withNewIds(overlay(generate(), shape.body), await store.nextId(at), shape);
    if (!(await keep({ store, at, collection }, created, created)))
      return { result: errorResult('The twin’s state is full: nothing was created.') };
    return { result: jsonResult(created, undefined) };
  }
  const id = shape.id!;
  const stored = await store.object(at, collection, id);
  if (stored === null) return { result: notFound(shape) };
  if (shape.kind === 'read') return stored === undefined ? undefined : { result: jsonResult(stored, undefined) };
  const current = stored ?? withId(generate(), shape, id);
  // An object the twin never saw is kept under the identifier the call named only.
  const names = stored ?? { id };
  if (shape.kind === 'delete') {
    await keep({ store, at, collection }, names, null);
    return { result: { content: [{ type: 'text', text: 'HTTP 204' }] } };
  }
  const updated = overlay(current, shape.body);
  if (!(await keep({ store, at, collection }, names, updated)))
    return { result: errorResult('The twin’s state is full: nothing was updated.') };
  return { result: jsonResult(updated, undefined) };
}

/** The fields an API names an object by in its item paths (`/issues/{issue_number}`, `/events/{eventId}`, …). */
const idFields = ['id', 'number', 'key'] as const;

/** Writes `value` under every identifier `object` has, so that a read by any of them finds it. */
async function keep(where: { store: TwinStore; at: TwinPlace; collection: string }, object: Json, value: Json | null) {
  const { store, at, collection } = where;
  for (const f of idFields) {
    const v = object[f];
    if ((typeof v === 'string' || typeof v === 'number') && !(await store.put(at, collection, String(v), value)))
      return false;
  }
  return true;
}

/**
 * A created object's identifiers, new: the `n`th object of the twin's state (`id` 7 or "twin-7", `number` 7, `key`
 * "TWIN-7"), and the field its read names it by (`idParam`) when the object has it.
 */
function withNewIds(object: Json, n: number, read: Pick<CrudShape, 'idParam' | 'numeric'>): Json {
  const out = { ...object };
  const { idParam, numeric } = read;
  const named = idParam !== undefined ? idField(idParam, out) : undefined;
  if (named !== undefined && named in out && !(idFields as readonly string[]).includes(named))
    out[named] = typeof out[named] === 'number' ? n : `twin-${n}`;
  // No identifier in the answer: the one the read names it by (`issue_number` → `number`), else `id`.
  const last = idParam
    ?.split(/_|(?=[A-Z])/)
    .at(-1)
    ?.toLowerCase();
  const field = idFields.find((f) => f === last) ?? 'id';
  if (!idFields.some((f) => f in out)) out[field] = numeric ? n : `twin-${n}`;
  if ('id' in out) out.id = typeof out.id === 'number' ? n : `twin-${n}`;
  if ('number' in out) out.number = n;
  if ('key' in out) out.key = typeof out.key === 'number' ? n : `TWIN-${n}`;
  return out;
}

/** A generated object given the identifier a call named it by. */
function withId(object: Json, shape: CrudShape, id: string): Json {
  const field = idField(shape.idParam, object);
  return { ...object, [field]: typeof object[field] === 'number' && /^\d+$/.test(id) ? Number(id) : id };
}
