import { deref, isObject, type Json } from './json-pointer.ts';
import { httpMethods } from './normalise-schemas.ts';
import { toolNames } from './tool-names.ts';

export interface DocumentOperation {
  /** The document's operationId, else the generated tool name. */
  operationId: string;
  hasOperationId: boolean;
  toolName: string;
  method: string;
  path: string;
  /** JSON pointer segments of the operation object. */
  location: string[];
  op: Json;
  pathItem: Json;
  summary?: string;
}

/** Every operation of `paths` in document order (TRACE is skipped: the plan has no such method), with its tool name. */
export function listOperations(doc: Json): DocumentOperation[] {
  const found: Omit<DocumentOperation, 'toolName' | 'operationId'>[] = [];
  const paths = isObject(doc.paths) ? doc.paths : {};
  for (const path of Object.keys(paths)) {
    const item = deref(doc, paths[path]);
    if (!isObject(item)) continue;
    for (const key of Object.keys(item)) {
      const method = key.toLowerCase();
      if (!(httpMethods as readonly string[]).includes(method) || method === 'trace') continue;
      const op = item[key];
      if (!isObject(op)) continue;
      found.push({
        hasOperationId: typeof op.operationId === 'string' && op.operationId.trim() !== '',
        method: method.toUpperCase(),
        path,
        location: ['paths', path, key],
        op,
        pathItem: item,
        ...(typeof op.summary === 'string' && op.summary ? { summary: op.summary } : {}),
      });
    }
  }
  const names = toolNames(
    found.map((f) => ({
      method: f.method,
      path: f.path,
      operationId: f.hasOperationId ? (f.op.operationId as string) : undefined,
    })),
  );
  return found.map((f, i) => ({
    ...f,
    toolName: names[i]!,
    operationId: f.hasOperationId ? (f.op.operationId as string) : names[i]!,
  }));
}

/** Path-item parameters overridden by the operation's (same name and location), dereferenced. */
export function operationParameters(doc: Json, pathItem: Json, op: Json): Json[] {
  const out = new Map<string, Json>();
  for (const list of [pathItem.parameters, op.parameters]) {
    if (!Array.isArray(list)) continue;
    for (const raw of list) {
      const p = deref(doc, raw);
      if (!isObject(p) || typeof p.name !== 'string' || typeof p.in !== 'string') continue;
      out.set(`${p.in}:${p.name}`, p);
    }
  }
  return [...out.values()];
}
