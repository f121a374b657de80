import type { LoadedCatalog } from '../state/catalogs.ts';

/**
 * 2026-07-28 `Mcp-Param-*` headers (SEP-2243): a tool's input schema may mark a property with
 * `x-mcp-header: <Name>`; clients then mirror the argument into `Mcp-Param-<Name>` (plain, or
 * `=?base64?…?=`) so intermediaries can route on it without parsing the body. The server MUST reject a
 * call whose header is missing, malformed or disagrees with the body (HTTP 400, JSON-RPC -32020).
 * The SDK checks this only for its high-level `McpServer`; the edge serves catalog tools through the
 * low-level `Server`, so it checks here, against the caller's listed tools.
 */
export const HEADER_MISMATCH = -32020;

interface Declaration {
  header: string;
  path: string[];
  type: unknown;
}

const declarationsOf = new WeakMap<LoadedCatalog, Map<string, Declaration[]>>();

/** Declarations on properties reachable through a chain of `properties` keys (the only places the spec allows). */
function scan(schema: unknown, path: string[], out: Declaration[]): void {
  const properties = (schema as { properties?: unknown } | null)?.properties;
  if (!properties || typeof properties !== 'object') return;
  for (const [key, prop] of Object.entries(properties as Record<string, unknown>)) {
    if (!prop || typeof prop !== 'object') continue;
    const header = (prop as Record<string, unknown>)['x-mcp-header'];
    if (typeof header === 'string' && header.length > 0)
      out.push({ header, path: [...path, key], type: (prop as { type?: unknown }).type });
    scan(prop, [...path, key], out);
  }
}

function declarations(loaded: LoadedCatalog, tool: string): Declaration[] {
  let byTool = declarationsOf.get(loaded);
  if (!byTool) {
    byTool = new Map();
    for (const t of loaded.list) {
      const found: Declaration[] = [];
      scan(t.inputSchema, [], found);
      if (found.length > 0) byTool.set(t.name, found);
    }
    declarationsOf.set(loaded, byTool);
  }
  return byTool.get(tool) ?? [];
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** The header's value: the Base64 sentinel decoded as UTF-8 (undefined when not canonical), else the literal value. */
export function decodeParamHeader(value: string): string | undefined {
  if (!(value.startsWith('=?base64?') && value.endsWith('?=') && value.length >= 11)) return value;
  const b64 = value.slice(9, -2);
  if (!BASE64.test(b64)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return undefined;
  }
}

/** Undefined when the call's `Mcp-Param-*` headers agree with its arguments; else the rejection's message and header. */
export function checkParamHeaders(
  loaded: LoadedCatalog,
  tool: string,
  args: unknown,
  header: (name: string) => string | undefined,
): { message: string; header: string } | undefined {
  for (const decl of declarations(loaded, tool)) {
    let value: unknown = args;
    for (const key of decl.path)
      value = value && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
    if (value === undefined || value === null) continue; // no value: no header expected (a present one is ignored)
    if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') continue;
    const name = `Mcp-Param-${decl.header}`;
    const raw = header(name);
    const where = decl.path.join('.');
    if (raw === undefined)
      return {
        header: name,
        message: `the body carries ${where}=${JSON.stringify(value)} but the ${name} header is absent`,
      };
    const decoded = decodeParamHeader(raw);
    if (decoded === undefined)
      return { header: name, message: `the ${name} header carries an invalid Base64 sentinel value` };
    const equal =
      typeof value === 'number' && DECIMAL.test(decoded) ? Number(decoded) === value : decoded === String(value);
    if (!equal)
      return {
        header: name,
        message: `the ${name} header decodes to ${JSON.stringify(decoded)} but the body carries ${where}=${JSON.stringify(value)}`,
      };
  }
  return undefined;
}
