import { workspaceSecrets } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { SecretMetadata, SecretsWriter } from '@toolplane/secrets';
import { type Request, type Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { jsonBody } from '../http/body.ts';
import { requestIssues } from '../http/error-handler.ts';
import type { RuntimePublisher } from '../publisher.ts';
import { serverSecretName } from '../catalog/secret-names.ts';
import { isUuid } from './ids.ts';
import { apiRouter } from '../http/route-access.ts';

/**
 * Secrets REST API: create, rotate, delete and list secrets of a workspace
 * (`/api/v1/secrets`) or of one MCP server (`/api/v1/mcp_servers/{id}/secrets`). The worker reads a
 * workflow's `$secrets.NAME` as the external user's when the call names one, else (no user, or the
 * server's `fallbackToShared`) the server's, else the workspace's (docs/workflows.md). Values go
 * straight to the secrets store (write-only) and never come back: responses carry names, versions and
 * times, read from the store's metadata; PostgreSQL holds nothing of them. Every write tells workers to drop the cached value (`secretsChanged`), so a
 * rotation takes effect at once, and at the latest after the workers' SECRETS_CACHE_TTL_MS.
 */

/** Names in the API: letters, digits, `_` and `-`. */
const apiSecretName = /^[A-Za-z0-9_-]{1,128}$/;
const nameMessage = 'letters, digits, _ and - only (1 to 128 characters)';
const maxValueBytes = 64 * 1024;

const SecretValue = z
  .string({ error: 'a string is required' })
  .min(1, 'must not be empty')
  .refine((v) => Buffer.byteLength(v) <= maxValueBytes, `at most ${maxValueBytes} bytes`);
export const CreateBody = z
  .object({
    name: z.string({ error: 'a string is required' }).regex(apiSecretName, nameMessage),
    value: SecretValue,
  })
  .strict();
export const PutBody = z.object({ value: SecretValue }).strict();

interface Scope {
  /** Store name prefix of this scope's secrets. */
  prefix: string;
  present: (m: SecretMetadata) => Record<string, unknown>;
}

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const parsed = schema.safeParse(body ?? {});
  if (!parsed.success)
    throw new ValidationError(`the ${what} is invalid`, requestIssues(parsed.error), 'request.invalid', 422);
  return parsed.data;
}

function checkPathName(name: string | undefined): string {
  if (!name || !apiSecretName.test(name))
    throw new ValidationError(
      'the secret name is invalid',
      [{ path: '/name', message: nameMessage }],
      'request.invalid',
      422,
    );
  return name;
}

function presenter(extra: Record<string, unknown>) {
  return (m: SecretMetadata) => {
    const name = m.name.slice(m.name.lastIndexOf('/') + 1);
    return {
      name,
      ...extra,
      version: m.version,
      versions: m.versions,
      created_at: m.createdAt.toISOString(),
      updated_at: m.updatedAt.toISOString(),
    };
  };
}

/** The same five routes for either scope; `scopeOf` finds the caller's scope (404 when it does not exist). */
function secretsRoutes(
  secrets: SecretsWriter,
  publisher: RuntimePublisher,
  maxBodyBytes: number,
  scopeOf: (req: Request) => Promise<Scope>,
): Router {
  const r = apiRouter({ mergeParams: true });
  r.use(jsonBody(maxBodyBytes));

  r.get('/', async (req, res) => {
    const scope = await scopeOf(req);
    // Only direct children: server secrets are not listed among the workspace's.
    const rows = (await secrets.list(scope.prefix)).filter((m) => !m.name.slice(scope.prefix.length).includes('/'));
    res.json({ data: rows.map(scope.present) });
  });

  r.post('/', async (req, res) => {
    const scope = await scopeOf(req);
    const body = parseBody(CreateBody, req.body, 'secret');
    const full = scope.prefix + body.name;
    await secrets.create(full, body.value);
    await publisher.secretsChanged(full);
    const meta = await secrets.describe(full);
    res.status(201).json(scope.present(meta ?? placeholder(full)));
  });

  r.get('/:name', async (req, res) => {
    const scope = await scopeOf(req);
    const name = checkPathName(req.params.name);
    const meta = await secrets.describe(scope.prefix + name);
    if (!meta) throw new NotFoundError('secret', name);
    res.json(scope.present(meta));
  });

  // Create or rotate: the value becomes a new version; the previous one stays in the store as `previous`.
  r.put('/:name', async (req, res) => {
    const scope = await scopeOf(req);
    const name = checkPathName(req.params.name);
    const { value } = parseBody(PutBody, req.body, 'secret');
    const full = scope.prefix + name;
    const written = await secrets.put(full, value);
    await publisher.secretsChanged(full);
    const meta = await secrets.describe(full);
    res.status(written.created ? 201 : 200).json(scope.present(meta ?? placeholder(full, written.version)));
  });

  r.delete('/:name', async (req, res) => {
    const scope = await scopeOf(req);
    const name = checkPathName(req.params.name);
    const full = scope.prefix + name;
    if (!(await secrets.delete(full))) throw new NotFoundError('secret', name);
    await publisher.secretsChanged(full);
    res.status(204).end();
  });
  return r;
}

/** When a just-written secret is not yet visible to the metadata call (eventually consistent stores). */
function placeholder(name: string, version = ''): SecretMetadata {
  const now = new Date();
  return {
    name,
    version,
    versions: version ? [{ id: version, stages: ['current'] }] : [],
    createdAt: now,
    updatedAt: now,
  };
}

/** `/api/v1/secrets`: the workspace's secrets. */
export function workspaceSecretsRouter(
  secrets: SecretsWriter,
  publisher: RuntimePublisher,
  maxBodyBytes: number,
): Router {
  return secretsRoutes(secrets, publisher, maxBodyBytes, async (req) => ({
    prefix: workspaceSecrets.prefix(caller(req).workspaceId),
    present: presenter({ scope: 'workspace' }),
  }));
}

/** `/api/v1/mcp_servers/{id}/secrets`: one MCP server's secrets (by id or name), `$secrets.NAME` of its workflows. */
export function serverSecretsRouter(
  db: Db,
  secrets: SecretsWriter,
  publisher: RuntimePublisher,
  maxBodyBytes: number,
): Router {
  return secretsRoutes(secrets, publisher, maxBodyBytes, async (req) => {
    const { workspaceId } = caller(req);
    const idOrName = String((req.params as Record<string, string>).id ?? '');
    const server = await db.mcpServer.findFirst({
      where: isUuid(idOrName) ? { id: idOrName, workspaceId } : { name: idOrName, workspaceId },
      select: { id: true },
    });
    if (!server) throw new NotFoundError('MCP server', idOrName);
    return {
      prefix: serverSecretName(workspaceId, server.id, ''),
      present: presenter({ scope: 'mcp_server', mcp_server_id: server.id }),
    };
  });
}
