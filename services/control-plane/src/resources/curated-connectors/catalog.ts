import { curatedConnectors, type CuratedConnector } from '@toolplane/connectors';

type Json = Record<string, unknown>;
type CuratedAuthKind = 'user_oauth' | 'token';

/** A curated connector as the API lists it, with the envelope of each authentication it offers. */
export interface CuratedEntry {
  slug: string;
  name: string;
  version: string;
  description: string;
  tools: { name: string; description: string }[];
  /** What it offers, people's accounts first (the default). */
  auth: CuratedAuthKind[];
  envelopes: Partial<Record<CuratedAuthKind, Json>>;
}

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

function entry(c: CuratedConnector): CuratedEntry {
  const { document } = c;
  const mcp = isObject(document.mcp_config) ? document.mcp_config : {};
  const mappings = Array.isArray(mcp.route_mappings) ? mcp.route_mappings.filter(isObject) : [];
  // An envelope with `user_oauth` offers people's accounts, and a token too where the package made a token variant;
  // one without offers the provider's token or key only (its document's schemes, held by the instance).
  const envelopes: CuratedEntry['envelopes'] =
    document.user_oauth === undefined
      ? { token: document }
      : { user_oauth: document, ...(c.tokenDocument ? { token: c.tokenDocument } : {}) };
  return {
    slug: c.slug,
    name: c.name,
    version: String(document.version),
    description: typeof document.description === 'string' ? document.description : '',
    tools: mappings.map((m) => ({ name: String(m.mcp_tool_name), description: String(m.mcp_tool_description) })),
    auth: (['user_oauth', 'token'] as const).filter((a) => envelopes[a] !== undefined),
    envelopes,
  };
}

let cached: CuratedEntry[] | undefined;

/** The curated connectors shipped with this build (`@toolplane/connectors`), read once, by slug. */
export function curatedCatalog(): CuratedEntry[] {
  cached ??= curatedConnectors().map(entry);
  return cached;
}
