import type { ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import { credentialFields } from '@toolplane/openapi';
import { openApiConnectorSource } from '../connectors/sources.ts';
import { replaceConnector } from '../connectors/replace.ts';
import { createConnector } from '../connectors/store.ts';
import type { UpdateConnectorQuery } from '../connectors/schemas.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import { createInstance } from '../connector-instances/create.ts';
import { present } from '../connector-instances/present.ts';
import { curatedCatalog, type CuratedEntry } from './catalog.ts';
import type { AddCuratedConnectorBody, SetupCuratedConnectorBody } from './schemas.ts';

/** The credential fields an instance of each variant takes (the same for every workspace: worked out once). */
let credentialKeys: Promise<Map<string, Partial<Record<CuratedAuth, string[]>>>> | undefined;

async function credentialKeysOf(
  catalog: CuratedEntry[],
  fetchDocument: ControlPlaneDeps['fetchDocument'],
): Promise<Map<string, Partial<Record<CuratedAuth, string[]>>>> {
  const out = new Map<string, Partial<Record<CuratedAuth, string[]>>>();
  for (const c of catalog) {
    const keys: Partial<Record<CuratedAuth, string[]>> = {};
    for (const auth of c.auth) {
      const envelope = c.envelopes[auth]!;
      const source = await openApiConnectorSource(envelope, JSON.stringify(envelope), fetchDocument);
      keys[auth] = credentialFields(source.descriptor as ConnectorDescriptor).map((f) => f.key);
    }
    out.set(c.slug, keys);
  }
  return out;
}

type CuratedAuth = CuratedEntry['auth'][number];

/** The credential fields of every curated connector's variants, worked out once (again after a failure). */
function curatedCredentials(fetchDocument: ControlPlaneDeps['fetchDocument']) {
  credentialKeys ??= credentialKeysOf(curatedCatalog(), fetchDocument).catch((err: unknown) => {
    credentialKeys = undefined;
    throw err;
  });
  return credentialKeys;
}

/**
 * `GET /connectors/curated`: the curated connectors shipped with Toolplane, with their tools, the authentication each
 * offers, and the workspace's connector of that slug when it has one (the newest).
 */
export async function listCuratedConnectors({ db, fetchDocument }: ControlPlaneDeps, { caller }: Input) {
  const catalog = curatedCatalog();
  const credentials = await curatedCredentials(fetchDocument);
  const rows = await db.connector.findMany({
    where: { workspaceId: caller.workspaceId, slug: { in: catalog.map((c) => c.slug) } },
    select: { id: true, slug: true, version: true },
    orderBy: { createdAt: 'asc' },
  });
  const added = new Map(rows.map((row) => [row.slug, row]));
  return {
    data: catalog.map(({ envelopes: _envelopes, ...c }) => ({
      ...c,
      credentials: credentials.get(c.slug)!,
      connectorId: added.get(c.slug)?.id ?? null,
      // A newer Toolplane ships another version: shown, never applied by itself (POST …/upgrade).
      update:
        added.get(c.slug) && added.get(c.slug)!.version !== c.version
          ? { from: added.get(c.slug)!.version, to: c.version }
          : null,
    })),
  };
}

/**
 * `POST /connectors/curated/{slug}`: adds a curated connector to the workspace, exactly as `POST /connectors` with its
 * envelope would (the same import and store; 409 when its slug and version exist).
 */
export async function addCuratedConnector(
  { db, fetchDocument }: ControlPlaneDeps,
  { body, params, caller }: Input<AddCuratedConnectorBody>,
) {
  const { envelope } = variantOf(params.slug!, body.auth);
  const source = await openApiConnectorSource(envelope, JSON.stringify(envelope), fetchDocument);
  return createConnector(db, caller.workspaceId, source);
}

/** The curated connector `slug` and the envelope of `auth` (default: its first), or a 404 / 422. */
function variantOf(slug: string, auth: CuratedAuth | undefined) {
  const curated = curatedCatalog().find((c) => c.slug === slug);
  if (!curated) throw new NotFoundError('curated connector', slug);
  const chosen = auth ?? curated.auth[0]!;
  const envelope = curated.envelopes[chosen];
  if (!envelope)
    throw new ValidationError(
      `${curated.name} offers no ${chosen} authentication`,
      [{ path: '/auth', message: `must be one of: ${curated.auth.join(', ')}` }],
      'request.invalid',
    );
  return { curated, envelope };
}

/**
 * `POST /connectors/curated/{slug}/setup`: what a person picking "Slack" wants in one step: the connector (the
 * workspace's own when added already), an instance holding the OAuth app or the token, and its MCP server exposing the
 * chosen tools. A tool the connector does not have is a 422 naming it, before anything is stored.
 */
export async function setupCuratedConnector(
  deps: ControlPlaneDeps,
  { body, params, caller: { workspaceId } }: Input<SetupCuratedConnectorBody>,
) {
  const { curated, envelope } = variantOf(params.slug!, body.auth);
  const unknown = (body.tools ?? []).flatMap((tool, i) =>
    curated.tools.some((t) => t.name === tool)
      ? []
      : [{ path: `/tools/${i}`, message: `${curated.name} has no tool "${tool}"` }],
  );
  if (unknown.length > 0) throw new ValidationError(`the ${curated.name} setup is invalid`, unknown);
  const existing = await deps.db.connector.findFirst({
    where: { workspaceId, slug: curated.slug, version: curated.version },
    select: { id: true },
  });
  const connectorId =
    existing?.id ??
    (
      await createConnector(
        deps.db,
        workspaceId,
        await openApiConnectorSource(envelope, JSON.stringify(envelope), deps.fetchDocument),
      )
    ).id;
  const created = await createInstance(
    deps,
    workspaceId,
    {
      connector_id: connectorId,
      name: body.name ?? curated.slug,
      ...(body.base_url ? { base_url: body.base_url } : {}),
      ...(body.oauth_urls ? { oauth_urls: body.oauth_urls } : {}),
      credentials: body.credentials,
      createServer: true,
    },
    body.tools,
  );
  const { server } = created;
  return {
    connector: { id: connectorId, slug: curated.slug, version: curated.version, added: existing === null },
    instance: present(created.instance, server),
    server: server ? { ...server, url: `${deps.env.PUBLIC_EDGE_URL.replace(/\/+$/, '')}/mcp/${server.id}` } : null,
  };
}

/**
 * `POST /connectors/curated/{slug}/upgrade`: the workspace's connector of that slug (its newest) replaced by the
 * version this Toolplane ships, in the variant it was added in (told by its credential fields), exactly as
 * `PUT /connectors/{id}` would; `dry_run=true` shows what it would change on each server and changes nothing.
 */
export async function upgradeCuratedConnector(
  deps: ControlPlaneDeps,
  { query, params, caller: { workspaceId } }: Input<undefined, UpdateConnectorQuery>,
) {
  const { row, source } = await upgradeOf(deps, workspaceId, params.slug!);
  return replaceConnector(deps, { workspaceId, row, source, dryRun: query.dry_run === 'true' });
}

/** The workspace's connector of `slug` (its newest) and the shipped document that upgrading replaces it with. */
async function upgradeOf({ db, fetchDocument }: ControlPlaneDeps, workspaceId: string, slug: string) {
  const curated = curatedCatalog().find((c) => c.slug === slug);
  if (!curated) throw new NotFoundError('curated connector', slug);
  const row = await newest(db, workspaceId, slug);
  const keys = (await curatedCredentials(fetchDocument)).get(slug)!;
  const mine = credentialFields(row.descriptor as ConnectorDescriptor)
    .map((f) => f.key)
    .join();
  const auth = curated.auth.find((a) => keys[a]?.join() === mine) ?? curated.auth[0]!;
  const { envelope } = variantOf(slug, auth);
  const source = await openApiConnectorSource(envelope, JSON.stringify(envelope), fetchDocument);
  return { row, source };
}

async function newest(db: ControlPlaneDeps['db'], workspaceId: string, slug: string) {
  const row = await db.connector.findFirst({ where: { workspaceId, slug }, orderBy: { createdAt: 'desc' } });
  if (!row) throw new NotFoundError('connector', slug);
  return row;
}

/**
 * Four eyes on loosening (ADR 0087): an upgrade's target, the workspace's connector of the slug as it is (bound by
 * its id, version and descriptor: another upgrade or `PUT` since makes the request stale).
 */
export async function upgradeTarget({ db }: ControlPlaneDeps, { params, caller }: Input<unknown, unknown, unknown>) {
  const row = await newest(db, caller.workspaceId, (params as Record<string, string>).slug!);
  return { id: row.id, version: row.version, descriptor: row.descriptor };
}

/**
 * What an upgrade changes, compared as a `PUT /connectors/{id}` of the shipped document is (its operations' costs,
 * labels, result shapes: loosening.ts); nothing for a dry run or a connector the workspace has not added.
 */
export async function upgradeChange(deps: ControlPlaneDeps, input: Input<unknown, unknown, unknown>) {
  if ((input.query as UpdateConnectorQuery | undefined)?.dry_run === 'true') return undefined;
  const slug = (input.params as Record<string, string>).slug!;
  const found = await upgradeOf(deps, input.caller.workspaceId, slug).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  if (!found) return undefined;
  return {
    stored: { descriptor: found.row.descriptor, document: found.row.document },
    body: { descriptor: found.source.descriptor, document: found.source.document ?? null },
  };
}
