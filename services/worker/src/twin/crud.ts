import type { HttpOperationPlan } from '@toolplane/contracts';

/**
 * A CRUD-shaped operation as the twin's state model sees it (ADR 0112), read from the operation's method and URL
 * template: `POST` on a collection path creates; on `<collection>/{param}`, `GET` reads, `PUT`/`PATCH`/`POST` update
 * and `DELETE` deletes. The collection is the path with its other parameters filled in, so the tools of one resource
 * share it.
 */
export interface CrudShape {
  kind: 'create' | 'read' | 'update' | 'delete';
  collection: string;
  /** The item's path parameter's value (every kind but `create`). */
  id?: string;
  /** The response field that holds an item's identifier, guessed from the item's path parameter's name. */
  idParam?: string;
  /** A create: its read takes the identifier as a number. */
  numeric?: boolean;
  /** The request's body fields (create and update). */
  body: Record<string, unknown>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The path part of a URL template (`https://api.example.com/v1/items/{id}` → `/v1/items/{id}`). */
const pathOf = (url: string) => url.replace(/^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i, '').replace(/[?#].*$/, '') || '/';

/** The operation's CRUD shape with these arguments, or undefined (a list, an action, a non-object answer). */
export function crudShape(plan: HttpOperationPlan, args: Json): CrudShape | undefined {
  if (plan.output?.wrap !== undefined) return undefined;
  const values = new Map<string, unknown>();
  for (const p of plan.params) if (p.in === 'path') values.set(p.name, args[p.arg] ?? p.default);
  const segments = pathOf(plan.url).split('/');
  const itemParam = /^\{([^}]+)\}$/.exec(segments.at(-1) ?? '')?.[1];
  const filled: string[] = [];
  for (const segment of itemParam ? segments.slice(0, -1) : segments) {
    let missing = false;
    const text = segment.replace(/\{([^}]+)\}/g, (_, name: string) => {
      const v = values.get(name);
      if (v === undefined || v === null) missing = true;
      return encodeURIComponent(String(v));
    });
    if (missing) return undefined;
    filled.push(text);
  }
  const collection = filled.join('/');
  const kind = shapeOf(plan.method.toUpperCase(), itemParam !== undefined);
  if (!kind) return undefined;
  const body = bodyOf(plan, args);
  if (!itemParam) return { kind, collection, body };
  const id = values.get(itemParam);
  if (id === undefined || id === null) return undefined;
  return { kind, collection, id: String(id), idParam: itemParam, body };
}

function shapeOf(method: string, item: boolean): CrudShape['kind'] | undefined {
  if (!item) return method === 'POST' ? 'create' : undefined;
  if (method === 'GET') return 'read';
  if (method === 'DELETE') return 'delete';
  return method === 'PUT' || method === 'PATCH' || method === 'POST' ? 'update' : undefined;
}

/** The request body the operation would send: its body parameters by name, or the whole body given as one argument. */
function bodyOf(plan: HttpOperationPlan, args: Json): Json {
  let body: Json = {};
  for (const p of plan.params) {
    if (p.in !== 'body') continue;
    const value = args[p.arg] ?? p.default;
    if (value === undefined) continue;
    if (p.wholeBody) body = isObject(value) ? { ...body, ...value } : body;
    else body[p.name] = value;
  }
  return body;
}

/**
 * The read of the items a create makes, among the operations of its catalog: `GET <the create's path>/{param}`. Its
 * answer's schema describes a created object (a create often declares none), and its parameter names the identifier.
 */
export function readOfCreate<T extends { plan: { kind: string } }>(
  create: HttpOperationPlan,
  tools: T[],
): T | undefined {
  const path = pathOf(create.url);
  return tools.find((t) => {
    const plan = t.plan as HttpOperationPlan;
    if (plan.kind !== 'http' || plan.method.toUpperCase() !== 'GET') return false;
    const read = pathOf(plan.url);
    return read.startsWith(`${path}/`) && /^\{[^}/]+\}$/.test(read.slice(path.length + 1));
  });
}

/** The item parameter of an item path (`/issues/{issue_number}` → `issue_number`). */
export const itemParamOf = (plan: HttpOperationPlan): string | undefined => /\{([^}]+)\}$/.exec(pathOf(plan.url))?.[1];

/**
 * The field of an answer that holds an item's identifier: the path parameter's own name, its last word
 * (`issue_number` → `number`, `eventId` → `id`, `issueIdOrKey` → `key`), else `id`, among the fields `object` has.
 */
export function idField(idParam: string | undefined, object: Json): string {
  const words = (idParam ?? '').split(/_|(?=[A-Z])/).filter((w) => w.length > 0);
  const candidates = [idParam, words.at(-1)?.toLowerCase(), 'id', 'key', 'name', 'number'];
  return candidates.find((c): c is string => c !== undefined && c in object) ?? 'id';
}

/** Whether `next` may take `current`'s place in an answer: the same JSON kind (arrays: of the same kind of item). */
function sameShape(current: unknown, next: unknown): boolean {
  if (Array.isArray(current) || Array.isArray(next)) {
    if (!Array.isArray(current) || !Array.isArray(next)) return false;
    return current.length === 0 || next.length === 0 || sameShape(current[0], next[0]);
  }
  if (isObject(current) || isObject(next)) return isObject(current) && isObject(next);
  if (current === null || next === null) return true;
  return typeof current === typeof next;
}

/**
 * `object` with the request's fields laid over it: each field whose JSON shape matches the answer's, or that the
 * answer lacks (the upstream would echo what it stored); nested objects merged the same way.
 */
export function overlay(object: Json, body: Json): Json {
  const out: Json = { ...object };
  for (const [k, v] of Object.entries(body)) {
    if (v === undefined) continue;
    if (!(k in out)) out[k] = v;
    else if (isObject(out[k]) && isObject(v)) out[k] = overlay(out[k] as Json, v);
    else if (sameShape(out[k], v)) out[k] = v;
  }
  return out;
}
