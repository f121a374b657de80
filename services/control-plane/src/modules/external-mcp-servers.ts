import { randomBytes } from 'node:crypto';
import { HttpUrl, type ListRemoteToolsResult } from '@toolplane/contracts';
import { NotFoundError, UserError } from '@toolplane/errors';
import type { SecretsWriter } from '@toolplane/secrets';
import { type Router } from 'express';
import { z } from 'zod';
import { registeredConfig, type StoredExternalConfig } from '../catalog/compile.ts';
import { externalServerHeaderSecretName, externalServerSecretPrefix } from '../catalog/secret-names.ts';
import { isUniqueViolation, type CatalogService } from '../catalog/service.ts';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { isUuid } from './ids.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * External MCP servers registered on the workspace (seed 002: "register MCP servers (by URL) in your
 * project … stored on the workspace"): a name, a URL and headers, used by any hosted server that names it
 * in `externalMcpServers`. Header values are secrets, one per header (`externalServerHeaderSecretName`):
 * write-only, never in an answer, patched one at a time. A change of the URL, the name or a header
 * recompiles every server using it in one catalog change; its tool list (last listed) is kept here and
 * refreshed with the servers' catalogs (external-refresh.ts).
 */

export const externalServerName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,49}$/, 'must be a slug (lower-case letters, digits, - and _; 1-50 chars)');
const headerName = z.string().regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/, 'must be an HTTP header name');
const headerValue = z.string().max(8192);
const maxHeaders = 20;

export const CreateExternalServerBody = z
  .object({
    name: externalServerName,
    url: HttpUrl,
    /** Header values are secrets: stored sealed, never shown again. */
    headers: z
      .record(headerName, headerValue)
      .default({})
      .refine((h) => Object.keys(h).length <= maxHeaders, `at most ${maxHeaders} headers`),
  })
  .strict();

export const UpdateExternalServerBody = z
  .object({
    name: externalServerName.optional(),
    url: HttpUrl.optional(),
    /** Only the headers named change: a value sets one, null removes it; the others keep their values. */
    headers: z.record(headerName, headerValue.nullable()).optional(),
  })
  .strict();

interface Row {
  id: string;
  workspaceId: string;
  name: string;
  url: string;
  headerSecrets: unknown;
  tools: unknown;
  listedAt: Date | null;
  listError: string | null;
  createdAt: Date;
  updatedAt: Date;
  servers?: { server: { id: string; name: string } }[];
}

/** What the registry keeps of a listing: each tool's name, title and description. */
function toolSummaries(result: ListRemoteToolsResult): { name: string; title?: string; description: string }[] {
  return result.tools.flatMap((t) =>
    typeof t.name === 'string'
      ? [
          {
            name: t.name,
            ...(typeof t.title === 'string' ? { title: t.title } : {}),
            description: typeof t.description === 'string' ? t.description : '',
          },
        ]
      : [],
  );
}

/** The row's listing columns after a listing. */
export function listingOf(result: ListRemoteToolsResult) {
  return result.ok
    ? { tools: toolSummaries(result), listedAt: new Date(), listError: null }
    : { tools: [], listedAt: new Date(), listError: result.error ?? 'the server could not be listed' };
}

function present(row: Row) {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    headerNames: Object.keys((row.headerSecrets ?? {}) as Record<string, string>).sort(),
    tools: row.tools as { name: string; title?: string; description: string }[],
    listedAt: row.listedAt?.toISOString() ?? null,
    listError: row.listError,
    usedBy: (row.servers ?? []).map((s) => ({ id: s.server.id, name: s.server.name })),
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const withUsers = { servers: { include: { server: { select: { id: true, name: true } } } } } as const;

const nameTaken = (name: string) =>
  new UserError('resource.conflict', `an external MCP server named "${name}" is already registered`, {
    status: 409,
  });

export function externalMcpServersRouter(
  db: Db,
  catalog: CatalogService,
  secrets: SecretsWriter,
  maxBodyBytes: number,
): Router {
  const r = apiRouter();
  r.use(jsonBody(maxBodyBytes));

  const find = async (workspaceId: string, idOrName: string): Promise<Row> => {
    const row = await db.externalMcpServer.findFirst({
      where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
      include: withUsers,
    });
    if (!row) throw new NotFoundError('external MCP server', idOrName);
    return row;
  };

  /** Seals header values under new names (the old ones stay valid until the change commits). */
  const sealHeaders = async (workspaceId: string, id: string, headers: Record<string, string>) => {
    const generation = randomBytes(6).toString('hex');
    const written: Record<string, string> = {};
    for (const [name, value] of Object.entries(headers)) {
      const secret = externalServerHeaderSecretName(workspaceId, id, name, generation);
      await secrets.put(secret, value);
      written[name] = secret;
    }
    return written;
  };

  r.get('/', async (req, res) => {
    const rows = await db.externalMcpServer.findMany({
      where: { workspaceId: caller(req).workspaceId },
      include: withUsers,
      orderBy: [{ name: 'asc' }],
    });
    res.json({ data: rows.map(present) });
  });

  // Registered and listed once (through the worker); a server that cannot be listed is registered anyway,
  // with the reason in `listError` (hosted servers using it then report it in their catalog's warnings).
  r.post('/', async (req, res) => {
    const body = CreateExternalServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    if (await db.externalMcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name: body.name } } }))
      throw nameTaken(body.name);
    const id = crypto.randomUUID();
    const headerSecrets = await sealHeaders(workspaceId, id, body.headers);
    try {
      const listing = listingOf(
        await catalog.listOne(registeredConfig({ id, name: body.name, url: body.url, headerSecrets }, [])),
      );
      const row = await db.externalMcpServer.create({
        data: { id, workspaceId, name: body.name, url: body.url, headerSecrets, ...listing },
        include: withUsers,
      });
      res.status(201).json(present(row));
    } catch (err) {
      await catalog.deleteSecretPrefixes([externalServerSecretPrefix(workspaceId, id)]);
      if (isUniqueViolation(err)) throw nameTaken(body.name);
      throw err;
    }
  });

  r.get('/:id', async (req, res) => {
    res.json(present(await find(caller(req).workspaceId, req.params.id)));
  });

  // Field by field: the URL, the name, one header (the other headers keep their sealed values). Listed
  // again in its new form, then every hosted server using it gets a new catalog version in one change.
  r.patch('/:id', async (req, res) => {
    const body = UpdateExternalServerBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const row = await find(workspaceId, req.params.id);
    const name = body.name ?? row.name;
    if (name !== row.name) {
      if (await db.externalMcpServer.findUnique({ where: { workspaceId_name: { workspaceId, name } } }))
        throw nameTaken(name);
      // A hosted server using it must not already have an external MCP server of that name.
      const users = await db.mcpServer.findMany({
        where: { externalServers: { some: { externalServerId: row.id } } },
        select: { name: true, externalMcpConfigs: true },
      });
      const clash = users.find((s) =>
        ((s.externalMcpConfigs ?? []) as unknown as StoredExternalConfig[]).some((c) => c.name === name),
      );
      if (clash)
        throw new UserError(
          'resource.conflict',
          `server "${clash.name}" already has an external MCP config named "${name}"`,
          { status: 409 },
        );
    }
    const current = (row.headerSecrets ?? {}) as Record<string, string>;
    const next: Record<string, string> = { ...current };
    const replaced: string[] = [];
    const set: Record<string, string> = {};
    for (const [header, value] of Object.entries(body.headers ?? {})) {
      // Header names are case-insensitive: the same header written in another case replaces it.
      for (const existing of Object.keys(next))
        if (existing.toLowerCase() === header.toLowerCase()) {
          replaced.push(next[existing]!);
          delete next[existing];
        }
      if (value !== null) set[header] = value;
    }
    if (Object.keys(next).length + Object.keys(set).length > maxHeaders)
      throw new UserError('request.invalid', `at most ${maxHeaders} headers`);
    const written = await sealHeaders(workspaceId, row.id, set);
    Object.assign(next, written);
    const config = registeredConfig({ id: row.id, name, url: body.url ?? row.url, headerSecrets: next }, []);
    const result = await catalog.listOne(config);
    await catalog.change(
      { externalServerIds: [row.id] },
      async (tx) => {
        try {
          await tx.externalMcpServer.update({
            where: { id: row.id },
            data: { name, url: config.url, headerSecrets: next, ...listingOf(result) },
          });
        } catch (err) {
          if (isUniqueViolation(err)) throw nameTaken(name);
          throw err;
        }
        return { result: row.id, deleteSecrets: replaced };
      },
      { listed: [{ config, result }], cleanupOnFailure: Object.values(written) },
    );
    res.json(present(await find(workspaceId, row.id)));
  });

  // Only when no hosted server uses it (409 naming them); its header secrets go with it.
  r.delete('/:id', async (req, res) => {
    const { workspaceId } = caller(req);
    const row = await find(workspaceId, req.params.id);
    const users = (row.servers ?? []).map((s) => s.server.name);
    if (users.length > 0)
      throw new UserError(
        'resource.conflict',
        `external MCP server "${row.name}" is used by ${users.map((n) => `"${n}"`).join(', ')}: remove it from ` +
          'their externalMcpServers first',
        { status: 409 },
      );
    try {
      await db.externalMcpServer.delete({ where: { id: row.id } });
    } catch (err) {
      // A server started using it meanwhile (the foreign key restricts the delete).
      if ((err as { code?: unknown }).code === 'P2003')
        throw new UserError('resource.conflict', `external MCP server "${row.name}" is in use`, { status: 409 });
      throw err;
    }
    await catalog.deleteSecretPrefixes([externalServerSecretPrefix(workspaceId, row.id)]);
    res.status(204).end();
  });

  return r;
}
