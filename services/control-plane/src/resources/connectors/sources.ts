import { parseConnectorDescriptor, type ConnectorDescriptor } from '@toolplane/contracts';
import { ValidationError } from '@toolplane/errors';
import { loadDocument } from '@toolplane/openapi';
import { routeShapeProblems } from '../../documents/route-shapes.ts';
import type { Fetcher } from '../../documents/fetch.ts';
import { importOpenApiConnector, isOpenApiBody, parseBody } from '../../documents/openapi-connectors.ts';

/** Validates a parsed descriptor document; throws a 422 listing every problem. */
function validateDescriptor(value: unknown): ConnectorDescriptor {
  const parsed = parseConnectorDescriptor(value);
  const shapes = routeShapeProblems(value);
  if (!parsed.ok || shapes.length > 0)
    throw new ValidationError('the connector descriptor is invalid', [...(parsed.ok ? [] : parsed.issues), ...shapes]);
  return parsed.value;
}

/** What a connector is registered or replaced from: its identity, its (stored) descriptor and its OpenAPI document. */
export interface ConnectorSource {
  kind: 'descriptor' | 'openapi';
  slug: string;
  version: string;
  name: string;
  descriptor: object;
  document?: Record<string, unknown>;
  /** The document as it was uploaded (kept for an export of the workspace's files); absent when none was. */
  text?: string;
}

/** An OpenAPI document or envelope (already parsed; `text` as sent), imported as a connector source. */
export async function openApiConnectorSource(
  body: unknown,
  text: string,
  fetchDocument?: Fetcher,
): Promise<ConnectorSource> {
  const imported = await importOpenApiConnector(body, text, fetchDocument);
  return {
    kind: 'openapi',
    slug: imported.slug,
    version: imported.version,
    name: imported.name,
    descriptor: imported.descriptor,
    document: imported.document,
  };
}

/**
 * A request body: a seed-001 descriptor, an OpenAPI 2.0/3.x document, or the OpenAPI envelope (openapi-connectors.ts).
 * `parsed`: the body already read as this function would read it (workspace files parse off the event loop).
 */
export async function readConnectorSource(
  text: string,
  fetchDocument?: Fetcher,
  parsed?: unknown,
): Promise<ConnectorSource> {
  const body = parsed ?? parseBody(text);
  if (isOpenApiBody(body)) return { ...(await openApiConnectorSource(body, text, fetchDocument)), text };
  // Descriptors are small: read with the strict YAML parser as before (duplicate keys are an error,
  // which JSON.parse, the fast path for large OpenAPI documents, would let through).
  const descriptor = validateDescriptor(parsed ?? loadDocument(text));
  return {
    kind: 'descriptor',
    slug: descriptor.metadata.slug,
    version: descriptor.metadata.version,
    name: descriptor.metadata.name,
    descriptor,
    text,
  };
}
