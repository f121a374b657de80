import { NotFoundError, TransientError } from '@toolplane/errors';
import { z } from 'zod';
import type { Fetcher } from '../../documents/fetch.ts';

/**
 * Reading an MCP Registry (its API v0.1, read side: `GET /v0.1/servers`, `.../versions/{version}`). Every request is
 * made by a worker through its outbound guard (`Fetcher`, documents/fetch.ts): the control plane never calls out.
 * Answers are read leniently: what Toolplane uses is checked, the rest passes through unread.
 */

/** The largest registry answer read (a page of 100 servers with their packages stays well below). */
const maxAnswerBytes = 4 * 1024 * 1024;

const KeyValueInput = z.looseObject({
  name: z.string(),
  description: z.string().optional(),
  isRequired: z.boolean().optional(),
  isSecret: z.boolean().optional(),
  value: z.string().optional(),
});

const Remote = z.looseObject({
  type: z.string(),
  url: z.string(),
  headers: z.array(KeyValueInput).optional(),
});

const ServerResponse = z.looseObject({
  server: z.looseObject({
    name: z.string(),
    description: z.string().optional(),
    title: z.string().optional(),
    version: z.string(),
    websiteUrl: z.string().optional(),
    remotes: z.array(Remote).optional(),
    packages: z.array(z.unknown()).optional(),
  }),
});
export type RegistryServer = z.output<typeof ServerResponse>['server'];
export type RegistryRemote = z.output<typeof Remote>;

const ServerList = z.looseObject({
  servers: z.array(ServerResponse),
  metadata: z.looseObject({ nextCursor: z.string().nullish() }).optional(),
});

const unreachable = (url: string, why: string) =>
  new TransientError('upstream.unreachable', `the MCP Registry at ${url} could not be read: ${why}`);

async function readJson<T>(fetch: Fetcher, url: string, schema: z.ZodType<T>): Promise<T> {
  const r = await fetch(url, maxAnswerBytes);
  if (!r.ok) throw unreachable(url, r.error);
  let value: unknown;
  try {
    value = JSON.parse(r.content);
  } catch {
    throw unreachable(url, 'its answer is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success)
    throw unreachable(url, `its answer is not the registry API's (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/** A page of the registry's latest versions matching `search`. */
export async function searchServers(
  fetch: Fetcher,
  source: string,
  query: { search?: string | undefined; cursor?: string | undefined; limit: number },
) {
  const params = new URLSearchParams({ limit: String(query.limit), version: 'latest' });
  if (query.search) params.set('search', query.search);
  if (query.cursor) params.set('cursor', query.cursor);
  const list = await readJson(fetch, `${source}/v0.1/servers?${params}`, ServerList);
  return { servers: list.servers.map((s) => s.server), nextCursor: list.metadata?.nextCursor || null };
}

/** One version of a server (`latest` by default); 404 when the registry has no such server or version. */
export async function readServer(fetch: Fetcher, source: string, name: string, version = 'latest') {
  const url = `${source}/v0.1/servers/${encodeURIComponent(name)}/versions/${encodeURIComponent(version)}`;
  const r = await fetch(url, maxAnswerBytes);
  if (!r.ok && /answered HTTP 404\b/.test(r.error))
    throw new NotFoundError('registry server', version === 'latest' ? name : `${name}@${version}`);
  return (await readJson(async () => r, url, ServerResponse)).server;
}

/**
 * The remote Toolplane attaches: streamable HTTP first, else SSE (the worker speaks both); a URL template
 * (`{variable}`) is not supported. Undefined when none fits, with the reason.
 */
export function pickRemote(server: RegistryServer): { remote?: RegistryRemote; unsupported?: string } {
  const remotes = (server.remotes ?? []).filter((r) => r.type === 'streamable-http' || r.type === 'sse');
  const usable = remotes.filter((r) => !/[{}]/.test(r.url) && /^https?:\/\//.test(r.url));
  const remote = usable.find((r) => r.type === 'streamable-http') ?? usable[0];
  if (remote) return { remote };
  if (remotes.length > 0) return { unsupported: 'its remote URL is a template ({variables} are not supported)' };
  return {
    unsupported:
      (server.packages?.length ?? 0) > 0
        ? 'it is published as packages only (run locally); Toolplane attaches remote servers'
        : 'it declares no remote',
  };
}
