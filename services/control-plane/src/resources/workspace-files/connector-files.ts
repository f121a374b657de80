import { stringify } from 'yaml';
import type { StoredOpenApiConnector } from '../../documents/openapi-connectors.ts';

/** A stored connector's row, as much of it as its file needs. */
interface ConnectorRow {
  kind: string;
  descriptor: unknown;
  document: unknown;
  source: string | null;
}

const isJson = (text: string) => /^\s*[{[]/.test(text);

/**
 * The text a connector's file holds: the document as it was uploaded; for a connector stored before uploads were
 * kept (or added from the curated list or the API catalog), the document it was stored as: the descriptor, or the
 * OpenAPI envelope around its bundled document.
 */
export function connectorText(row: ConnectorRow): { text: string; ext: string } {
  if (row.source !== null) return { text: row.source, ext: isJson(row.source) ? 'json' : 'yaml' };
  if (row.kind !== 'openapi') return { text: stringify(row.descriptor, { lineWidth: 0 }), ext: 'yaml' };
  const d = row.descriptor as StoredOpenApiConnector;
  const envelope = {
    kind: 'openapi',
    slug: d.metadata.slug,
    name: d.metadata.name,
    version: d.metadata.version,
    ...(d.metadata.description ? { description: d.metadata.description } : {}),
    mcp_config: d.mcp_config,
    rate_limits: d.rate_limits,
    ...(d.capabilities ? { capabilities: d.capabilities } : {}),
    ...(d.sla ? { sla: d.sla } : {}),
    document: row.document,
  };
  return { text: stringify(envelope, { lineWidth: 0 }), ext: 'yaml' };
}
