import { pathText, type CheckPoint } from './analyze.ts';

/**
 * Checks the data against a condition's check points before it is evaluated (ADR 0035): each list it
 * iterates or searches, each string it reads and each structure it compares, at the sizes its cost was
 * estimated with. Returns undefined when all hold, else why not. Never throws on data: values that are
 * not what a point expects (a number where a list was expected, a missing field) pass here and make the
 * evaluation fail instead.
 */
export function checkDataLimits(points: readonly CheckPoint[], activation: unknown): string | undefined {
  for (const point of points) {
    const reason = checkPoint(point, activation);
    if (reason) return reason;
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

function checkPoint(point: CheckPoint, activation: unknown): string | undefined {
  if (!isRecord(activation)) return undefined;
  const start = Object.hasOwn(activation, point.path.root) ? activation[point.path.root] : undefined;
  const { segments } = point.path;
  // Depth-first over the values at the path; `EACH`/`VALUES` segments fan out over elements (or keys/values).
  // The fan-out is bounded: the list a segment iterates was itself a check point, checked earlier.
  const stack: { value: unknown; depth: number }[] = [{ value: start, depth: 0 }];
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!;
    if (depth === segments.length) {
      const reason = checkValue(point, value);
      if (reason) return reason;
      continue;
    }
    const seg = segments[depth];
    if (typeof seg === 'string') {
      if (Array.isArray(value)) {
        const i = Number(seg);
        if (Number.isInteger(i) && i >= 0 && i < value.length) stack.push({ value: value[i], depth: depth + 1 });
      } else if (isRecord(value) && !(value instanceof Map) && Object.hasOwn(value, seg))
        stack.push({ value: value[seg], depth: depth + 1 });
      continue;
    }
    if (Array.isArray(value)) {
      if (value.length > 100_000) return `${pathText(point.path)} is too large to check`;
      for (const v of value) stack.push({ value: v, depth: depth + 1 });
    } else if (isRecord(value) && !(value instanceof Map)) {
      let n = 0;
      for (const key in value) {
        if (!Object.hasOwn(value, key)) continue;
        if (++n > 100_000) return `${pathText(point.path)} is too large to check`;
        stack.push({ value: seg === 0 ? key : value[key], depth: depth + 1 });
      }
    }
  }
  return undefined;
}

function checkValue(point: CheckPoint, value: unknown): string | undefined {
  const where = pathText(point.path);
  switch (point.kind) {
    case 'string':
      return typeof value === 'string' && value.length > point.limit
        ? `${where} has ${value.length} characters, more than the ${point.limit} this condition reads`
        : undefined;
    case 'list': {
      const n = Array.isArray(value) ? value.length : isRecord(value) ? countKeys(value, point.limit + 1) : 0;
      return n > point.limit
        ? `${where} has ${Array.isArray(value) ? n : `more than ${point.limit}`} ${Array.isArray(value) ? 'elements' : 'entries'}, ` +
            `more than the ${point.limit} this condition iterates`
        : undefined;
    }
    case 'value':
      return isRecord(value) && countNodes(value, point.limit + 1) > point.limit
        ? `${where} is a list or map of more than ${point.limit} values, more than this condition compares`
        : undefined;
  }
}

/** Own keys of `value`, counting up to `stop`. */
function countKeys(value: Record<string, unknown>, stop: number): number {
  if (value instanceof Map) return Math.min(value.size, stop);
  let n = 0;
  for (const key in value) if (Object.hasOwn(value, key) && ++n >= stop) return n;
  return n;
}

/** The values in a structure (itself, elements, entries, nested), counting up to `stop`. */
function countNodes(value: unknown, stop: number): number {
  let n = 0;
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (++n >= stop) return n;
    if (Array.isArray(v)) for (let i = 0; i < v.length && i < stop; i++) stack.push(v[i]);
    else if (isRecord(v) && !(v instanceof Map)) {
      let k = 0;
      for (const key in v) if (Object.hasOwn(v, key) && k++ < stop) stack.push(v[key]);
    }
  }
  return n;
}
