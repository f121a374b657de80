import { sessionCallFields, sessionFields, type ConditionSession, type ConditionSessionCall } from './activation.ts';
import { conditionLimits as limits } from './limits.ts';
import type { JsonSchema, SchemaAt } from './schema.ts';

/**
 * `session` in conditions (ADR 0078): its shape as a JSON Schema, so that the analyser names its fields and
 * bounds what a condition iterates and reads of it exactly as it does for a tool's arguments (analyze.ts), and the
 * check of a session's shape before a condition that reads it is evaluated: a session absent, over those bounds or of
 * another shape makes the condition false, so the worst case estimated when saved is the worst case that can run and a
 * session that lies (a number for a label, a string for a count) grants nothing.
 */

const name = { type: 'string', maxLength: limits.maxSessionNameLength };
const count = { type: 'integer', minimum: 0 };

const schema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  maxProperties: sessionFields.length,
  properties: {
    labels: {
      type: 'array',
      maxItems: limits.maxSessionLabels,
      items: { type: 'string', maxLength: limits.maxSessionLabelLength },
    },
    tools_called: { type: 'array', maxItems: limits.maxSessionCalls, items: name },
    calls: {
      type: 'array',
      maxItems: limits.maxSessionCalls,
      items: {
        type: 'object',
        additionalProperties: false,
        maxProperties: sessionCallFields.length,
        properties: {
          tool: name,
          server_id: name,
          count,
          first_at: count,
          last_at: count,
          since_seconds: count,
        },
      },
    },
  },
};

/** What the analyser knows of `session`. */
export const sessionSchema: SchemaAt = { root: schema, node: schema };

/** `session` for the library's checker (numbers are dyn, as JSON numbers of `args` are: schema.ts). */
export const sessionCallType = {
  tool: 'string',
  server_id: 'string',
  count: 'dyn',
  first_at: 'dyn',
  last_at: 'dyn',
  since_seconds: 'dyn',
} as const satisfies Record<(typeof sessionCallFields)[number], string>;

const isPlain = (v: unknown): v is Record<string, unknown> => {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/** Whether `v` is a plain object with exactly the fields `fields`. */
function hasExactly(v: unknown, fields: readonly string[]): v is Record<string, unknown> {
  if (!isPlain(v)) return false;
  let n = 0;
  for (const key in v) if (Object.hasOwn(v, key) && (!fields.includes(key) || ++n > fields.length)) return false;
  return n === fields.length && fields.every((f) => Object.hasOwn(v, f));
}

const stringsUpTo = (v: unknown, items: number, length: number): boolean =>
  Array.isArray(v) && v.length <= items && v.every((s) => typeof s === 'string' && s.length <= length);

const isCount = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) >= 0;

function isCall(v: unknown): boolean {
  if (!hasExactly(v, sessionCallFields)) return false;
  const max = limits.maxSessionNameLength;
  return (
    typeof v.tool === 'string' &&
    v.tool.length <= max &&
    typeof v.server_id === 'string' &&
    v.server_id.length <= max &&
    isCount(v.count) &&
    isCount(v.first_at) &&
    isCount(v.last_at) &&
    isCount(v.since_seconds)
  );
}

/**
 * Why the activation's session cannot be read by a condition (absent, over the bounds, another shape), or undefined
 * when it can. Reads own fields only; may throw on exotic data (a getter that throws), which the caller turns into false.
 */
export function sessionProblem(activation: unknown): string | undefined {
  const session =
    typeof activation === 'object' && activation !== null && Object.hasOwn(activation, 'session')
      ? (activation as { session: unknown }).session
      : undefined;
  if (session === undefined) return 'the session of this call was not read, so a condition on it is false';
  if (!hasExactly(session, sessionFields)) return `session is not a map of ${sessionFields.join(', ')}`;
  if (!stringsUpTo(session.labels, limits.maxSessionLabels, limits.maxSessionLabelLength))
    return `session.labels is not a list of at most ${limits.maxSessionLabels} labels`;
  const { maxSessionCalls: calls, maxSessionNameLength: length } = limits;
  if (!stringsUpTo(session.tools_called, calls, length))
    return `session.tools_called is not a list of at most ${calls} tool names of at most ${length} characters`;
  if (!Array.isArray(session.calls) || session.calls.length > calls || !session.calls.every(isCall))
    return `session.calls is not a list of at most ${calls} calls (${sessionCallFields.join(', ')})`;
  return undefined;
}

/** One tool's calls, as the session store reads them (`SessionCall` of @toolplane/queue). */
export interface SessionCallCount {
  readonly tool: string;
  readonly serverId: string;
  readonly count: number;
  readonly firstAt: number;
  readonly lastAt: number;
}

const whole = (n: number): number =>
  Number.isFinite(n) ? Math.min(Math.max(0, Math.floor(n)), Number.MAX_SAFE_INTEGER) : 0;

/**
 * The session as conditions see it, from what the session store read (`readSession`'s view: its labels' keys and its
 * calls) at `now` (epoch ms), within the bounds: the most recently called tools first, at most `maxSessionCalls`.
 */
export function conditionSession(
  view: { readonly labels: ReadonlyMap<string, unknown>; readonly calls: readonly SessionCallCount[] },
  now: number,
): ConditionSession {
  const labels = [...view.labels.keys()]
    .filter((l) => typeof l === 'string' && l.length <= limits.maxSessionLabelLength)
    .slice(0, limits.maxSessionLabels);
  const max = limits.maxSessionNameLength;
  const calls: ConditionSessionCall[] = view.calls
    .filter((c) => c.tool.length <= max && c.serverId.length <= max)
    .sort((a, b) => b.lastAt - a.lastAt)
    .slice(0, limits.maxSessionCalls)
    .map((c) => ({
      tool: c.tool,
      server_id: c.serverId,
      count: whole(c.count),
      first_at: whole(c.firstAt),
      last_at: whole(c.lastAt),
      since_seconds: whole((now - c.lastAt) / 1000),
    }));
  return { labels, tools_called: [...new Set(calls.map((c) => c.tool))], calls };
}
