import type { ConnectorDescriptor } from '@toolplane/contracts';
import { NotFoundError, ValidationError } from '@toolplane/errors';
import { credentialFields } from '@toolplane/openapi';
import type { SecretsWriter } from '@toolplane/secrets';
import express, { Router } from 'express';
import { z } from 'zod';
import type { Db } from '../db/client.ts';
import { caller } from '../http/auth.ts';
import { isUuid } from './ids.ts';

const CreateInstanceBody = z.object({
  connector_id: z.string().min(1),
  name: z.string().min(1).max(100),
  /** Replaces the origin of every endpoint of the descriptor (sandbox, self-hosted, the local example). */
  base_url: z.string().url().optional(),
  credentials: z.record(z.string(), z.string()).default({}),
});

/** Where an instance's credential field lives in the secrets store. */
export function credentialSecretName(workspaceId: string, instanceId: string, field: string): string {
  return `ws/${workspaceId}/connector-instances/${instanceId}/${field}`;
}

export function connectorInstancesRouter(db: Db, secrets: SecretsWriter, maxBodyBytes: number): Router {
  const r = Router();
  r.use(express.json({ limit: maxBodyBytes }));
  r.post('/', async (req, res) => {
    const body = CreateInstanceBody.parse(req.body ?? {});
    const { workspaceId } = caller(req);
    const connector = isUuid(body.connector_id) ? await db.connector.findFirst({ where: { id: body.connector_id, workspaceId } }) : null;
    if (!connector) throw new ValidationError('the connector instance is invalid', [{ path: '/connector_id', message: `no connector ${body.connector_id} in this workspace` }]);
    const fields = credentialFields(connector.descriptor as ConnectorDescriptor);
    const issues = [
      ...fields.filter((f) => f.required && !body.credentials[f.key]).map((f) => ({ path: `/credentials/${f.key}`, message: `credential "${f.key}" is required by the descriptor` })),
      ...Object.keys(body.credentials).filter((k) => !fields.some((f) => f.key === k)).map((k) => ({ path: `/credentials/${k}`, message: `the descriptor declares no credential field "${k}"` })),
    ];
    if (issues.length > 0) throw new ValidationError('the connector instance is invalid', issues);

    const id = crypto.randomUUID();
    const keys = Object.keys(body.credentials);
    // Secrets first, row second; a failed insert removes what was written (nothing half-saved).
    for (const key of keys) await secrets.put(credentialSecretName(workspaceId, id, key), body.credentials[key]!);
    try {
      const row = await db.connectorInstance.create({ data: { id, workspaceId, connectorId: connector.id, name: body.name, baseUrl: body.base_url ?? null, credentialKeys: keys } });
      res.status(201).json(present(row));
    } catch (err) {
      for (const key of keys) await secrets.delete(credentialSecretName(workspaceId, id, key)).catch(() => undefined);
      throw err;
    }
  });
  r.get('/', async (req, res) => {
    const rows = await db.connectorInstance.findMany({ where: { workspaceId: caller(req).workspaceId }, orderBy: { createdAt: 'asc' } });
    res.json({ data: rows.map(present) });
  });
  r.get('/:id', async (req, res) => {
    const row = isUuid(req.params.id) ? await db.connectorInstance.findFirst({ where: { id: req.params.id, workspaceId: caller(req).workspaceId } }) : null;
    if (!row) throw new NotFoundError('connector instance', req.params.id);
    res.json(present(row));
  });
  return r;
}

function present(row: { id: string; connectorId: string; name: string; baseUrl: string | null; credentialKeys: string[]; createdAt: Date; updatedAt: Date }) {
  return { id: row.id, connector_id: row.connectorId, name: row.name, base_url: row.baseUrl, credential_keys: row.credentialKeys, createdAt: row.createdAt, updatedAt: row.updatedAt };
}
