import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import {
  changed,
  idOf,
  liveRows,
  References,
  references,
  resolved,
  run,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { connectorInstancesOperations } from './operations.ts';
import { OAuthUrls } from './schemas.ts';

const InstanceSpec = z.strictObject({
  name: z.string().min(1).max(100),
  /** The connector as `slug@version`. */
  connector: z.string().regex(/^[a-z0-9][a-z0-9-]{0,99}@.{1,50}$/, 'must be slug@version'),
  baseUrl: HttpUrl.nullable().default(null),
  oauthUrls: OAuthUrls.nullable().default(null),
  credentials: References,
});

/** Connector instances (`connector-instances/<name>.yaml`): their connector as `slug@version`, credentials as references. */
export const connectorInstanceFiles: WorkspaceFileKind = {
  kind: 'connector_instance',
  dir: 'connector-instances',
  schema: InstanceSpec,
  refers: (s) => [{ kind: 'connector', name: String(s.connector), path: '/connector', what: 'connector' }],
  async live(ctx) {
    const rows = await ctx.deps.db.connectorInstance.findMany({
      where: { workspaceId: ctx.workspaceId },
      include: { connector: { select: { slug: true, version: true } } },
      orderBy: [{ name: 'asc' }, { createdAt: 'asc' }],
    });
    return liveRows(ctx, 'connector_instance', rows, (r, marker) => ({
      name: r.name,
      connector: `${r.connector.slug}@${r.connector.version}`,
      baseUrl: r.baseUrl,
      oauthUrls: r.oauthUrls ?? null,
      credentials: references(marker, 'credentials', r.credentialKeys, r.name),
    }));
  },
  write(c, ctx) {
    const s = c.desired!.spec;
    if (c.action === 'create')
      return run(connectorInstancesOperations, 'createConnectorInstance', {
        body: {
          connector_id: idOf(ctx, 'connector', String(s.connector)),
          name: s.name,
          ...(s.baseUrl ? { base_url: s.baseUrl } : {}),
          ...(s.oauthUrls ? { oauth_urls: s.oauthUrls } : {}),
          credentials: resolved(s.credentials, ctx),
          // Its servers are files of their own.
          createServer: false,
        },
      });
    const body: Record<string, unknown> = {};
    if (changed(c, 'baseUrl')) body.base_url = s.baseUrl;
    if (changed(c, 'oauthUrls')) body.oauth_urls = s.oauthUrls;
    if (changed(c, 'credentials')) body.credentials = resolved(s.credentials, ctx);
    if (Object.keys(body).length === 0) return undefined;
    return run(connectorInstancesOperations, 'updateConnectorInstance', { params: { id: c.live!.id }, body });
  },
  remove: (c) => run(connectorInstancesOperations, 'deleteConnectorInstance', { params: { id: c.live!.id } }),
};
