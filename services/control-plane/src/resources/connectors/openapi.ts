import { ConnectorCapabilities, ConnectorDescriptor, ConnectorSla } from '@toolplane/contracts';
import { z } from 'zod';
import { OpenApiEnvelope } from '../../documents/openapi-connectors.ts';

const timestamp = z.iso.datetime();

const Issue = z.strictObject({ path: z.string(), message: z.string() });

/** A plain OpenAPI 2.0 / 3.x document (told apart from a descriptor by its `openapi` or `swagger` field). */
const OpenApiDocument = [
  z.looseObject({ openapi: z.string() }).describe('An OpenAPI 3.0 or 3.1 document: every operation becomes a tool.'),
  z
    .looseObject({ swagger: z.union([z.string(), z.number()]) })
    .describe('A Swagger (OpenAPI 2.0) document: every operation becomes a tool.'),
] as const;

/** What `POST` and `PUT /connectors…` read (connectors.ts `readConnectorSource`). */
const ConnectorSource = z
  .union([
    ConnectorDescriptor.meta({ id: 'ConnectorDescriptor' }),
    OpenApiEnvelope.meta({ id: 'OpenApiConnectorEnvelope' }),
    ...OpenApiDocument,
  ])
  .describe(
    'A seed-001 connector descriptor, an OpenAPI document, or the OpenAPI envelope (`kind: "openapi"`) ' +
      'that adds identity, a bundle of files and route mappings (docs/api.md, "Connectors").',
  )
  .meta({ id: 'ConnectorSource' });

/** The document text itself, YAML or JSON (the media type is not what decides how it is read). */
export const sourceBody = (description: string) => ({
  required: true,
  description,
  content: {
    'application/yaml': { schema: ConnectorSource },
    'text/yaml': { schema: ConnectorSource },
    'application/json': { schema: ConnectorSource },
  },
});

const connectorCommon = {
  id: z.uuid(),
  slug: z.string(),
  version: z.string(),
  name: z.string(),
  createdAt: timestamp,
  operations: z.array(z.string()).describe('The operation ids of the descriptor or document.'),
  tools: z
    .array(z.string())
    .describe('The MCP tool names it gives an instance; [] when `mcp_config.enabled` is false.'),
  capabilities: ConnectorCapabilities.nullable().meta({
    id: 'ConnectorCapabilities',
    description:
      'The descriptor’s `capabilities` as written (`sync_modes`: `full_refresh`, `incremental`; ' +
      '`supports_schema_discovery`; other keys kept); null without one.',
  }),
  sla: ConnectorSla.nullable().meta({
    id: 'ConnectorSla',
    description:
      'The descriptor’s `sla` as written (`availability_percentage` 0-100, `latency_ms_p95` in ms; other keys ' +
      'kept); null without one.',
  }),
};

const descriptorConnector = {
  ...connectorCommon,
  kind: z.literal('descriptor'),
  mcp_enabled: z.boolean().describe('`mcp_config.enabled` of the descriptor.'),
};

const openApiConnector = {
  ...connectorCommon,
  kind: z.literal('openapi'),
  credentialFields: z
    .array(z.strictObject({ key: z.string(), required: z.boolean(), secret: z.boolean() }))
    .describe('The credentials the document’s security schemes need (set on instances).'),
  warnings: z.array(Issue).describe('What the import left out or adjusted.'),
};

/** A connector as the API shows it (`present` in connectors.ts). */
export const Connector = z
  .discriminatedUnion('kind', [
    z.strictObject(descriptorConnector).meta({ id: 'DescriptorConnector' }),
    z.strictObject(openApiConnector).meta({ id: 'OpenApiConnector' }),
  ])
  .meta({ id: 'Connector' });

const storedDescriptor = z
  .record(z.string(), z.unknown())
  .describe('The stored descriptor (for OpenAPI connectors: metadata, credential fields, mappings, operations).');

/** `GET /connectors/{id}`: the connector with its stored descriptor. */
export const ConnectorWithDescriptor = z
  .discriminatedUnion('kind', [
    z
      .strictObject({ ...descriptorConnector, descriptor: storedDescriptor })
      .meta({ id: 'DescriptorConnectorWithDescriptor' }),
    z
      .strictObject({ ...openApiConnector, descriptor: storedDescriptor })
      .meta({ id: 'OpenApiConnectorWithDescriptor' }),
  ])
  .meta({ id: 'ConnectorWithDescriptor' });

const ToolChangesShape = {
  added: z.array(z.string()).describe('Tools the server would gain.'),
  removed: z.array(z.string()).describe('Tools the server would lose.'),
  changed: z
    .array(
      z.strictObject({
        name: z.string(),
        fields: z
          .array(z.enum(['title', 'description', 'inputSchema', 'outputSchema', 'annotations', 'request']))
          .describe('What changes: parts of the MCP definition, or `request` (the upstream call it makes).'),
      }),
    )
    .describe('Tools kept under the same name whose definition or upstream request would change.'),
};

/** The answer of `PUT /connectors/{id}?dry_run=true`. */
export const ConnectorUpdatePreview = z
  .strictObject({
    state: z.literal('validated'),
    connector: Connector,
    servers: z
      .array(
        z
          .strictObject({
            id: z.uuid(),
            name: z.string(),
            renamedTo: z
              .string()
              .optional()
              .describe('A server created from the descriptor’s `mcp_config` takes its new `server_name`.'),
            mode: z.enum(['SMART', 'NORMAL']),
            ...ToolChangesShape,
          })
          .meta({ id: 'ServerToolChanges' }),
      )
      .describe(
        'Every server bound to an instance of the connector (changed or not), and any other server whose tools ' +
          'would change (SMART servers search every instance’s tools), by name.',
      ),
  })
  .meta({ id: 'ConnectorUpdatePreview' });
