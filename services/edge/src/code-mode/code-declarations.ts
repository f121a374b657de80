import { runCodeTool, type Catalog, type CatalogTool, type ToolDefinition } from '@toolplane/contracts';

type Schema = Record<string, unknown>;

/**
 * `run_code`'s description stays small (what code mode is for): the tools' full declarations while they fit in this
 * many characters (about 1,500 tokens), else their names while those fit, else neither: search_tools' hits carry each
 * tool's declaration, and describe_tool its schemas.
 */
const DECLARATIONS_MAX_CHARS = 6_000;
const NAMES_MAX_CHARS = 3_000;
const MAX_DEPTH = 4;
const OUTPUT_TYPE_MAX_CHARS = 300;

const identifier = /^[A-Za-z_$][\w$]*$/;
const key = (name: string) => (identifier.test(name) ? name : JSON.stringify(name));

/** A JSON Schema as a compact TypeScript type (what a model needs to call a tool; not a full translation). */
export function schemaType(schema: unknown, depth = 0): string {
  if (!schema || typeof schema !== 'object') return 'unknown';
  const s = schema as Schema;
  if ('const' in s) return JSON.stringify(s.const);
  if (Array.isArray(s.enum)) return s.enum.map((v) => JSON.stringify(v)).join(' | ') || 'never';
  const union = (s.anyOf ?? s.oneOf) as unknown[] | undefined;
  if (Array.isArray(union)) return [...new Set(union.map((u) => schemaType(u, depth)))].join(' | ');
  const types = Array.isArray(s.type) ? (s.type as string[]) : s.type ? [s.type as string] : [];
  if (types.length > 1) return types.map((t) => schemaType({ ...s, type: t }, depth)).join(' | ');
  switch (types[0] ?? (s.properties ? 'object' : s.items ? 'array' : undefined)) {
    case 'string':
      return 'string';
    case 'integer':
    case 'number':
      return 'number';
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const item = depth >= MAX_DEPTH ? 'unknown' : schemaType(s.items, depth + 1);
      return /[|&]/.test(item) ? `(${item})[]` : `${item}[]`;
    }
    case 'object':
      return objectType(s, depth);
    default:
      return 'unknown';
  }
}

function objectType(s: Schema, depth: number): string {
  const props = (s.properties ?? {}) as Record<string, unknown>;
  const names = Object.keys(props);
  if (names.length === 0 || depth >= MAX_DEPTH) return 'Record<string, unknown>';
  const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
  const fields = names.map((n) => `${key(n)}${required.has(n) ? '' : '?'}: ${schemaType(props[n], depth + 1)}`);
  return `{ ${fields.join('; ')} }`;
}

function firstLine(text: string | undefined): string {
  const line = (text ?? '').split('\n')[0]!.trim();
  return line.length > 120 ? `${line.slice(0, 117)}...` : line;
}

/** One tool's declaration, as a member of `tools` (the line search_tools' hits carry). */
export function toolDeclaration(t: CatalogTool['tool']): string {
  const type = t.outputSchema ? schemaType(t.outputSchema) : 'unknown';
  // A large response type (GitHub's are kilobytes) costs more than it helps: describe_tool has the schema.
  const out = type.length <= OUTPUT_TYPE_MAX_CHARS ? type : schemaType({ type: (t.outputSchema as Schema).type });
  return `${key(t.name)}(args: ${schemaType(t.inputSchema)}): Promise<${out}>;`;
}

/** Where a model reads a tool's arguments when the description cannot declare them: SMART's search, NORMAL's list. */
const FIND = {
  SMART:
    "each one's declaration is in search_tools' results (search by what you want to do), its schemas in describe_tool",
  NORMAL: "each one's arguments are its input schema in this server's tool list",
} as const;

/** `declare const tools: { … }`: the tools a caller may use from a program, within the description's budget. */
export function toolDeclarations(tools: readonly CatalogTool['tool'][], mode: keyof typeof FIND = 'SMART'): string {
  const full = tools.map((t) => {
    const doc = firstLine(t.description ?? t.title);
    return `${doc ? `  /** ${doc.replace(/\*\//g, '* /')} */\n` : ''}  ${toolDeclaration(t)}`;
  });
  const text = `declare const tools: {\n${full.join('\n')}\n};`;
  if (text.length <= DECLARATIONS_MAX_CHARS) return text;
  const loose = 'declare const tools: Record<string, (args: Record<string, unknown>) => Promise<unknown>>;';
  const names = tools.map((t) => t.name).join(', ');
  if (mode === 'NORMAL' || names.length <= NAMES_MAX_CHARS)
    return `// The ${tools.length} tools: ${mode === 'NORMAL' ? 'those this server lists' : names}.\n// ${FIND[mode]}.\n${loose}`;
  return `// ${tools.length} tools: find them with search_tools; ${FIND[mode]}.\n${loose}`;
}

/** `run_code` as a caller sees it: its description declares the tools this caller may call. */
function runCodeDefinition(tools: readonly CatalogTool[], mode: keyof typeof FIND): ToolDefinition {
  const declarations = toolDeclarations(
    tools.map((t) => t.tool),
    mode,
  );
  return { ...runCodeTool, description: `${runCodeTool.description}\n\n${declarations}` };
}

/**
 * `tools/list` of a catalog (or of a caller's view of it, `tools` being what the caller may call): SMART's meta tools
 * with `run_code` declaring `tools`, a NORMAL server's tools with `run_code` added when it has code mode on.
 */
export function listedTools(
  catalog: Pick<Catalog, 'mode' | 'codeMode'>,
  tools: readonly CatalogTool[],
  base: readonly ToolDefinition[],
): ToolDefinition[] {
  if (catalog.mode === 'SMART')
    return base.map((t) => (t.name === runCodeTool.name ? runCodeDefinition(tools, 'SMART') : t));
  if (!catalog.codeMode || base.some((t) => t.name === runCodeTool.name)) return [...base];
  return [...base, runCodeDefinition(tools, 'NORMAL')];
}
