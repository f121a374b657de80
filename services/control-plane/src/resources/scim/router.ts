import express, { type NextFunction, type Request, type Response } from 'express';
import { apiRouter } from '../../http/api-router.ts';
import { auditSourceOf } from '../../http/audit.ts';
import { hashApiKey } from '../../http/auth.ts';
import { unauthenticatedLimit } from '../../http/limits.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import { scimBasePath } from '../scim-token/handlers.ts';
import { listResponse, type ScimContext } from './context.ts';
import { ScimError, scimErrorHandler } from './errors.ts';
import * as groups from './groups.ts';
import { resourceTypes, schemas, serviceProviderConfig } from './schema.ts';
import * as users from './users.ts';

const contexts = new WeakMap<Request, ScimContext>();

/** The workspace's SCIM token (`Authorization: Bearer …`), else 401; its last use is written at most once a minute. */
function authenticate(deps: ControlPlaneDeps) {
  return async (req: Request, _res: Response, next: NextFunction) => {
    const match = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '');
    const row = match ? await deps.db.scimToken.findUnique({ where: { hash: hashApiKey(match[1]!) } }) : null;
    if (!row) throw new ScimError(401, 'a valid SCIM token is required (Authorization: Bearer …)');
    if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000)
      await deps.db.scimToken.update({ where: { id: row.id }, data: { lastUsedAt: new Date() } });
    contexts.set(req, {
      deps,
      workspaceId: row.workspaceId,
      tokenId: row.id,
      base: `${req.protocol}://${req.get('host')}${scimBasePath}`,
      source: auditSourceOf(req),
    });
    next();
  };
}

type Handler = (ctx: ScimContext, req: Request) => Promise<unknown>;

/** Answers with `application/scim+json`: 201 with `Location` for a creation, 204 for nothing. */
function answer(handler: Handler, created = false) {
  return async (req: Request, res: Response) => {
    const body = await handler(contexts.get(req)!, req);
    if (body === undefined) return void res.status(204).end();
    const location = (body as { meta?: { location?: string } }).meta?.location;
    if (created && location) res.setHeader('location', location);
    res
      .status(created ? 201 : 200)
      .type('application/scim+json')
      .send(JSON.stringify(body));
  };
}

const id = (req: Request) => String(req.params.id);
const query = (req: Request) => req.query as Record<string, unknown>;

/** Every SCIM endpoint: method, path, what answers, and whether it creates (201 with `Location`). */
const endpoints: ['get' | 'post' | 'put' | 'patch' | 'delete', string, Handler, boolean?][] = [
  ['get', '/ServiceProviderConfig', async (ctx) => serviceProviderConfig(ctx.base)],
  ['get', '/ResourceTypes', async (ctx) => listResponse(resourceTypes(ctx.base))],
  ['get', '/Schemas', async (ctx) => listResponse(schemas(ctx.base))],
  ['get', '/Users', (ctx, req) => users.listUsers(ctx, query(req))],
  ['post', '/Users', (ctx, req) => users.createUser(ctx, req.body), true],
  ['get', '/Users/:id', (ctx, req) => users.getUser(ctx, id(req))],
  ['put', '/Users/:id', (ctx, req) => users.replaceUser(ctx, id(req), req.body)],
  ['patch', '/Users/:id', (ctx, req) => users.patchUser(ctx, id(req), req.body)],
  ['delete', '/Users/:id', (ctx, req) => users.deleteUser(ctx, id(req))],
  ['get', '/Groups', (ctx, req) => groups.listGroups(ctx, query(req))],
  ['post', '/Groups', (ctx, req) => groups.createGroup(ctx, req.body), true],
  ['get', '/Groups/:id', (ctx, req) => groups.getGroup(ctx, id(req), query(req))],
  ['put', '/Groups/:id', (ctx, req) => groups.replaceGroup(ctx, id(req), req.body)],
  ['patch', '/Groups/:id', (ctx, req) => groups.patchGroup(ctx, id(req), req.body)],
  ['delete', '/Groups/:id', (ctx, req) => groups.deleteGroup(ctx, id(req))],
];

/**
 * SCIM 2.0 (RFC 7643/7644) at `/scim/v2`, outside the management API (ADR 0062): the identity provider of the
 * workspace whose token it sends creates, updates, deactivates and deletes people (external users) and groups;
 * discovery (`ServiceProviderConfig`, `ResourceTypes`, `Schemas`). Errors as RFC 7644 §3.12 says.
 */
export function scimRouter(deps: ControlPlaneDeps): express.Router {
  const r = apiRouter();
  r.use(unauthenticatedLimit(deps.env.UNAUTH_RATE_LIMIT, deps.env.UNAUTH_RATE_WINDOW_SECONDS));
  r.use(authenticate(deps));
  r.use(express.json({ type: ['application/scim+json', 'application/json'], limit: deps.env.MAX_BODY_BYTES }));
  for (const [method, path, handler, created] of endpoints) r[method](path, answer(handler, created));
  r.use((req) => {
    throw new ScimError(404, `no SCIM endpoint ${req.method} ${req.path}`);
  });
  r.use(scimErrorHandler(deps.log));
  return r;
}
