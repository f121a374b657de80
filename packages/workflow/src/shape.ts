import { compile, TreeInterpreter, type JSONValue } from '@jmespath-community/jmespath';

/**
 * A JSON value shaped for models (ADR 0052): a JMESPath `projection` of it, then an item cap on its arrays (the value
 * itself, or each of its top-level members). The worker shapes tool results with it and the control plane's preview
 * shows the same on a sample, so the two never differ.
 */

export interface JsonShape {
  projection?: string;
  maxItems?: number;
}

type ExpressionNode = ReturnType<typeof compile>;

const compiled = new Map<string, ExpressionNode>();

/** A projection compiled once per process (a catalog's expressions were compiled when it was saved). */
function expression(projection: string): ExpressionNode {
  let node = compiled.get(projection);
  if (!node) {
    node = compile(projection);
    if (compiled.size > 1000) compiled.clear();
    compiled.set(projection, node);
  }
  return node;
}

/** Cuts the value's arrays to `max` items: the value itself, or each of its top-level members; counts what was left out. */
function capItems(value: JSONValue, max: number, truncated: Record<string, number>): JSONValue {
  if (Array.isArray(value)) {
    if (value.length > max) truncated['$'] = value.length - max;
    return value.slice(0, max);
  }
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, JSONValue> = {};
  for (const [k, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.length > max) {
      truncated[k] = v.length - max;
      out[k] = v.slice(0, max);
    } else out[k] = v;
  }
  return out;
}

/**
 * The value as the shape makes it, and the items its cap left out per array (`$`: the value itself). Throws what
 * JMESPath throws for a projection that cannot compile or fails on this value.
 */
export function shapeJson(value: JSONValue, shape: JsonShape): { value: JSONValue; truncated: Record<string, number> } {
  let shaped = shape.projection ? TreeInterpreter.search(expression(shape.projection), value) : value;
  const truncated: Record<string, number> = {};
  if (shape.maxItems !== undefined) shaped = capItems(shaped, shape.maxItems, truncated);
  return { value: shaped, truncated };
}
