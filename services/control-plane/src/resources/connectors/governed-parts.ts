import type { Caller } from '../../http/auth.ts';
import { canonical, refuseLoosening, refuseOriginChange } from '../governing.ts';
import { connectorParts } from './field-powers.ts';

/**
 * The parts of a connector's document that `connectorParts` (field-powers.ts) does not leave free, read from a
 * stored or replacing source (its descriptor, and the OpenAPI document of an OpenAPI connector). ADR 0073.
 */
interface Source {
  descriptor: unknown;
  document?: unknown;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Keys whose string value is where a request (an operation's, a test's, an OAuth flow's) is sent. */
const urlKeys = new Set([
  'endpoint',
  'url',
  'authorization_url',
  'token_url',
  'revocation_url',
  'authorizationUrl',
  'tokenUrl',
  'refreshUrl',
  'openIdConnectUrl',
]);

/** Every origin the source names where a request may go (`servers` blocks whole: their variables change origins). */
function originsIn(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) originsIn(v, into);
  if (!isObject(value)) return into;
  for (const [key, v] of Object.entries(value)) {
    if (key === 'servers') into.add(`servers ${canonical(v)}`);
    if (urlKeys.has(key) && typeof v === 'string') {
      const origin = /^(https?:\/\/[^/?#]*)/i.exec(v)?.[1];
      if (origin) into.add(origin.toLowerCase());
    }
    originsIn(v, into);
  }
  return into;
}

/** What each operation costs against cost quotas: a descriptor's `cost`, an OpenAPI operation's `x-toolplane-cost`. */
function costs({ descriptor, document }: Source): string {
  const d = isObject(descriptor) ? descriptor : {};
  const declared = list(d.operations).flatMap((o) => (isObject(o) ? [[o.operation_id, o.cost ?? null]] : []));
  const paths = isObject(document) && isObject(document.paths) ? document.paths : {};
  const extended = Object.entries(paths).flatMap(([path, item]) =>
    isObject(item)
      ? Object.entries(item).flatMap(([method, op]) =>
          isObject(op) && op['x-toolplane-cost'] !== undefined ? [[`${method} ${path}`, op['x-toolplane-cost']]] : [],
        )
      : [],
  );
  return canonical([Object.fromEntries(declared), Object.fromEntries(extended)]);
}

/** The result shape each route mapping declares for its tool. */
function shapes({ descriptor }: Source): string {
  const d = isObject(descriptor) && isObject(descriptor.mcp_config) ? descriptor.mcp_config : {};
  const declared = list(d.route_mappings).flatMap((m) =>
    isObject(m) ? [[m.mcp_tool_name, m.result_shape ?? null]] : [],
  );
  return canonical(Object.fromEntries(declared));
}

/** The data-flow labels each route mapping and each OpenAPI operation (`x-toolplane-labels`) declares (ADR 0078). */
function labels({ descriptor, document }: Source): string {
  const d = isObject(descriptor) && isObject(descriptor.mcp_config) ? descriptor.mcp_config : {};
  const routes = list(d.route_mappings).flatMap((m) => (isObject(m) ? [[m.mcp_tool_name, m.labels ?? null]] : []));
  const paths = isObject(document) && isObject(document.paths) ? document.paths : {};
  const extended = Object.entries(paths).flatMap(([path, item]) =>
    isObject(item)
      ? Object.entries(item).flatMap(([method, op]) =>
          isObject(op) && op['x-toolplane-labels'] !== undefined
            ? [[`${method} ${path}`, op['x-toolplane-labels']]]
            : [],
        )
      : [],
  );
  return canonical([Object.fromEntries(routes), Object.fromEntries(extended)]);
}

/** The parts of `connectorParts` that replacing `before` by `after` changes (`other` never counts). */
function changedParts(before: Source, after: Source): (keyof typeof connectorParts)[] {
  const was = originsIn([before.descriptor, before.document ?? null]);
  const added = [...originsIn([after.descriptor, after.document ?? null])].filter((o) => !was.has(o));
  return [
    ...(added.length > 0 ? (['origins'] as const) : []),
    ...(costs(before) !== costs(after) ? (['cost'] as const) : []),
    ...(shapes(before) !== shapes(after) ? (['result_shape'] as const) : []),
    ...(labels(before) !== labels(after) ? (['labels'] as const) : []),
  ];
}

/**
 * 403 when replacing connector `name`'s source changes a part that is not free and the caller lacks the right it
 * needs: a new origin (while instances hold credentials for it) needs the right to write secrets; a cost, a result
 * shape or a tool's data-flow labels the right to change access policies.
 */
export function refuseGovernedParts(
  caller: Caller,
  connector: { name: string; instances: number },
  change: { before: Source; after: Source },
): void {
  const parts = changedParts(change.before, change.after);
  const what = `connector ${connector.name}`;
  const moved = parts.filter((p) => connectorParts[p] === 'origin' && connector.instances > 0);
  refuseOriginChange(
    caller,
    what,
    moved.map((p) => `the ${p} of its operations`),
  );
  refuseLoosening(
    caller,
    what,
    parts.filter((p) => connectorParts[p] === 'governing'),
  );
}
