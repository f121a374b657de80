import { HttpUrl } from '@toolplane/contracts';
import { z } from 'zod';
import {
  byName,
  changed,
  liveRows,
  references,
  References,
  resolved,
  run,
  type WorkspaceFileKind,
} from '../workspace-files/kind.ts';
import { looseningOf } from '../change-requests/workspace-file-loosening.ts';
import { externalMcpServersOperations } from './operations.ts';
import { CreateExternalServerBody } from './schemas.ts';

/**
 * A registered external MCP server: its header values as references, its review settings (ADR 0061) written out with
 * the API's defaults for a new server (review on: `autoAccept: false`).
 */
const ExternalServerSpec = z.strictObject({
  name: z.string().min(1),
  url: HttpUrl,
  headers: References,
  autoAccept: CreateExternalServerBody.shape.autoAccept.unwrap().default(false),
  onChange: CreateExternalServerBody.shape.onChange.unwrap().default('keep_pinned'),
  notifyWebhookUrl: CreateExternalServerBody.shape.notifyWebhookUrl.unwrap().default(null),
});

/** An external server's review settings (ADR 0061), as both its create and its update take them. */
const reviewFields = ['autoAccept', 'onChange', 'notifyWebhookUrl'] as const;

/** Registered external MCP servers (`external-mcp-servers/<name>.yaml`). */
export const externalServerFiles: WorkspaceFileKind = {
  kind: 'external_mcp_server',
  ...looseningOf('external_server'),
  dir: 'external-mcp-servers',
  schema: ExternalServerSpec,
  async live(ctx) {
    const rows = await ctx.deps.db.externalMcpServer.findMany(byName(ctx));
    return liveRows(ctx, 'external_mcp_server', rows, (r, marker) => ({
      name: r.name,
      url: r.url,
      headers: references(marker, 'headers', Object.keys(r.headerSecrets as Record<string, string>), r.name),
      autoAccept: r.autoAccept,
      onChange: r.onChange,
      notifyWebhookUrl: r.notifyWebhookUrl,
    }));
  },
  write(c, ctx) {
    const s = c.desired!.spec;
    const review = Object.fromEntries(reviewFields.filter((f) => changed(c, f)).map((f) => [f, s[f]]));
    if (c.action === 'create')
      return run(externalMcpServersOperations, 'createExternalMcpServer', {
        body: { name: s.name, url: s.url, headers: resolved(s.headers, ctx), ...review },
      });
    if (!c.fields.some((f) => f === 'url' || f === 'headers' || f in review)) return undefined;
    const headers: Record<string, string | null> = {};
    if (changed(c, 'headers')) {
      for (const h of Object.keys((c.live!.spec.headers ?? {}) as object)) headers[h] = null;
      Object.assign(headers, resolved(s.headers, ctx));
    }
    return run(externalMcpServersOperations, 'updateExternalMcpServer', {
      params: { id: c.live!.id },
      body: { url: s.url, ...(changed(c, 'headers') ? { headers } : {}), ...review },
    });
  },
  remove: (c) => run(externalMcpServersOperations, 'deleteExternalMcpServer', { params: { id: c.live!.id } }),
};
