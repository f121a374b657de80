import { NotFoundError, ValidationError } from '@toolplane/errors';
import type { Request, Response } from 'express';
import { caller } from '../../http/auth.ts';
import { openApiConnectorSource } from '../connectors/sources.ts';
import { createConnector } from '../connectors/store.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { curatedCatalog } from './catalog.ts';
import { AddCuratedConnectorBody } from './schemas.ts';

/**
 * `GET /connectors/curated`: the curated connectors shipped with Toolplane, with their tools, the authentication each
 * offers, and the workspace's connector of that slug when it has one (the newest).
 */
export async function listCuratedConnectors({ db }: ControlPlaneDeps, req: Request, res: Response): Promise<void> {
  const catalog = curatedCatalog();
  const rows = await db.connector.findMany({
    where: { workspaceId: caller(req).workspaceId, slug: { in: catalog.map((c) => c.slug) } },
    select: { id: true, slug: true },
    orderBy: { createdAt: 'asc' },
  });
  const added = new Map(rows.map((row) => [row.slug, row.id]));
  res.json({
    data: catalog.map(({ envelopes: _envelopes, ...c }) => ({ ...c, connectorId: added.get(c.slug) ?? null })),
  });
}

/**
 * `POST /connectors/curated/{slug}`: adds a curated connector to the workspace, exactly as `POST /connectors` with its
 * envelope would (the same import and store; 409 when its slug and version exist).
 */
export async function addCuratedConnector(
  { db, fetchDocument }: ControlPlaneDeps,
  req: Request,
  res: Response,
): Promise<void> {
  const body = AddCuratedConnectorBody.parse(req.body ?? {});
  const slug = req.params.slug as string;
  const curated = curatedCatalog().find((c) => c.slug === slug);
  if (!curated) throw new NotFoundError('curated connector', slug);
  const auth = body.auth ?? curated.auth[0]!;
  const envelope = curated.envelopes[auth];
  if (!envelope)
    throw new ValidationError(
      `${curated.name} offers no ${auth} authentication`,
      [{ path: '/auth', message: `must be one of: ${curated.auth.join(', ')}` }],
      'request.invalid',
    );
  const source = await openApiConnectorSource(envelope, JSON.stringify(envelope), fetchDocument);
  res.status(201).json(await createConnector(db, caller(req).workspaceId, source));
}
