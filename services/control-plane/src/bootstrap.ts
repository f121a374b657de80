import type { Db } from './db/client.ts';
import { hashApiKey } from './http/auth.ts';
import { createApiKey } from './resources/api-keys/keys.ts';
import { startSessionSettings } from './resources/sessions/settings.ts';
import type { RuntimePublisher } from './publication/publisher.ts';

/**
 * First-run bootstrap: a default organization and workspace, and (when BOOTSTRAP_API_KEY is set)
 * an API key with that value (scopes management, runtime, admin and audit: it may create more workspaces and read the audit trail), and
 * the new workspace's default session settings. Idempotent.
 */
export async function bootstrap(
  db: Db,
  publisher: RuntimePublisher,
  bootstrapKey: string | undefined,
): Promise<{ workspaceId: string }> {
  let org = await db.organization.findFirst({ where: { name: 'default' } });
  org ??= await db.organization.create({ data: { name: 'default' } });
  const found = await db.workspace.findUnique({
    where: { organizationId_name: { organizationId: org.id, name: 'default' } },
  });
  const ws = found ?? (await db.workspace.create({ data: { organizationId: org.id, name: 'default' } }));
  if (bootstrapKey && !(await db.apiKey.findUnique({ where: { hash: hashApiKey(bootstrapKey) } }))) {
    await createApiKey(db, publisher, {
      workspaceId: ws.id,
      name: 'bootstrap',
      scopes: ['management', 'runtime', 'admin', 'audit'],
      value: bootstrapKey,
    });
  }
  // A workspace created now is new: its default session settings (ADR 0078), published with its access document at
  // start. One that existed before keeps what it had (none, for a workspace older than the settings).
  if (!found) await startSessionSettings(db, ws.id, bootstrapKey ? hashApiKey(bootstrapKey) : undefined);
  return { workspaceId: ws.id };
}
