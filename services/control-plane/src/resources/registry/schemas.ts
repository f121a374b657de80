import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import { externalServerName } from '../external-mcp-servers/schemas.ts';

/** A registry server's name (reverse-DNS `namespace/name`, the registry API's `ServerDetail.name` pattern). */
const registryServerName = z
  .string()
  .min(3)
  .max(200)
  .regex(/^[a-zA-Z0-9.-]+\/[a-zA-Z0-9._-]+$/, 'must be a registry name: `<reverse-DNS namespace>/<name>`');

export const RegistrySearchQuery = z.object({
  q: z.string().max(200).optional(),
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(20),
});
export type RegistrySearchQuery = z.output<typeof RegistrySearchQuery>;

export const RegistryAddBody = z.strictObject({
  name: registryServerName.describe('The server’s name in the registry (`io.github.acme/weather`).'),
  version: z.string().min(1).max(255).optional().describe('A version it lists; default: `latest`.'),
  as: externalServerName
    .optional()
    .describe('The external MCP server’s name; default: the part after `/`, as a slug (`weather`).'),
  headers: z
    .record(z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/), z.string().max(8192))
    .default({})
    .describe('Values for the headers the registry declares (secrets: sealed, never shown again).'),
});
export type RegistryAddBody = z.output<typeof RegistryAddBody>;

/** A reverse-DNS namespace (the part of a registry name before `/`). */
const registryNamespace = z
  .string()
  .min(1)
  .max(150)
  .regex(/^[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$/, 'must be a reverse-DNS namespace (`com.example.tools`)');

export const RegistrySettingsBody = z.strictObject({
  sourceUrl: HttpUrl.nullable().describe('The registry searched and added from; null: the default (MCP_REGISTRY_URL).'),
  namespace: registryNamespace
    .nullable()
    .describe('The namespace of this workspace’s servers in its own registry; null: the edge’s host reversed.'),
});
export type RegistrySettingsBody = z.output<typeof RegistrySettingsBody>;

/** `GET /registry/v0.1/servers`'s query: the registry API's own parameters. */
export const ServedListQuery = z.object({
  cursor: z.string().max(500).optional(),
  limit: z.coerce.number().int().min(1).max(100).default(30),
  search: z.string().max(200).optional(),
  updated_since: z.iso.datetime({ offset: true }).optional(),
  version: z.string().max(255).optional(),
});
export type ServedListQuery = z.output<typeof ServedListQuery>;
