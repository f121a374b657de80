import { loadDocument } from '@toolplane/openapi';
import { readdirSync, readFileSync } from 'node:fs';

type Json = Record<string, unknown>;

/** One curated connector: an OpenAPI connector envelope, the body `POST /api/v1/connectors` takes as is. */
export interface CuratedConnector {
  slug: string;
  name: string;
  /**
   * The envelope as shipped: people connect their own accounts (`user_oauth`, ADR 0028) where the provider offers
   * OAuth, else the instance holds the provider's token or API key.
   */
  document: Json;
  /**
   * The same connector authenticated by the provider's token or API key held by the instance (no `user_oauth`; the
   * OAuth scheme and its alternatives removed), when the provider offers both. Undefined otherwise.
   */
  tokenDocument?: Json;
}

const catalogDir = new URL('../catalog/', import.meta.url);

const isObject = (v: unknown): v is Json => v !== null && typeof v === 'object' && !Array.isArray(v);

const methods = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

/**
 * The envelope without people's accounts: `user_oauth` goes, and so does its scheme, from the components and from
 * every security requirement (the document's and each operation's). Undefined when the envelope does not opt in, or
 * when an operation would be left with no way to authenticate (the provider has no token for it).
 */
function tokenVariant(envelope: Json): Json | undefined {
  const optIn = envelope.user_oauth;
  if (optIn === undefined) return undefined;
  if (!isObject(optIn) || typeof optIn.scheme !== 'string')
    throw new Error(`curated connector ${String(envelope.slug)}: user_oauth must name its scheme`);
  const scheme = optIn.scheme;
  const document = structuredClone(envelope.document) as Json;
  const components = isObject(document.components) ? document.components : {};
  if (isObject(components.securitySchemes)) delete components.securitySchemes[scheme];
  let stranded = false;
  const strip = (holder: Json): void => {
    if (!Array.isArray(holder.security)) return;
    holder.security = holder.security.filter((r) => !(isObject(r) && scheme in r));
    if ((holder.security as unknown[]).length === 0) stranded = true;
  };
  strip(document);
  for (const item of Object.values(isObject(document.paths) ? document.paths : {}))
    if (isObject(item)) for (const m of methods) if (isObject(item[m])) strip(item[m]);
  if (stranded) return undefined;
  const { user_oauth: _dropped, ...rest } = envelope;
  return { ...rest, document };
}

/** Every curated connector of `catalog/`, by slug. Reads and parses the files on each call. */
export function curatedConnectors(): CuratedConnector[] {
  return readdirSync(catalogDir)
    .filter((f) => f.endsWith('.yaml'))
    .sort()
    .map((file) => {
      const document = loadDocument(readFileSync(new URL(file, catalogDir), 'utf8')) as Json;
      const tokenDocument = tokenVariant(document);
      return {
        slug: String(document.slug),
        name: String(document.name),
        document,
        ...(tokenDocument ? { tokenDocument } : {}),
      };
    });
}
