import { randomUUID } from 'node:crypto';
import { ValidationError } from '@toolplane/errors';
import { auditExporterSecretName } from '../../catalog/secret-names.ts';
import { requireScope } from '../../http/access.ts';
import type { AuditExporter as Row } from '../../generated/prisma/client.ts';
import type { ControlPlaneDeps } from '../deps.ts';
import type { Input } from '../operation.ts';
import type { CreateAuditExporterBody, ExporterTarget, UpdateAuditExporterBody } from './schemas.ts';
import { given, workspaceRows } from '../rows.ts';

/** A target as stored and answered: its sealed value left out, its defaults filled in. */
export type StoredTarget =
  | {
      type: 'syslog';
      host: string;
      port: number;
      tls: boolean;
      format: 'json' | 'cef';
      caPem?: string;
      serverName?: string;
    }
  | { type: 'splunk_hec'; url: string; index?: string; sourcetype?: string }
  | { type: 'webhook'; url: string };

function stored(target: ExporterTarget): StoredTarget {
  switch (target.type) {
    case 'syslog':
      return { ...target, tls: target.tls ?? false, format: target.format ?? 'json' };
    case 'splunk_hec': {
      const { token: _token, ...rest } = target;
      return rest;
    }
    case 'webhook':
      return { type: 'webhook', url: target.url };
  }
}

/** The value a target seals (the HEC token, the webhook's HMAC key), if the request gave one. */
function secretOf(target: ExporterTarget): string | undefined {
  return target.type === 'splunk_hec' ? target.token : target.type === 'webhook' ? target.secret : undefined;
}

function present(row: Row) {
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    target: row.target as StoredTarget,
    hasSecret: row.secretName !== null,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
  };
}

const exporterRows = workspaceRows(
  (db) => db.auditExporter,
  { what: 'audit exporter', one: 'an audit exporter' },
  present,
);
const { byId, refuseTakenName } = exporterRows;

/** 422 when a target that needs a sealed value has none given and none kept. */
function refuseMissingSecret(target: ExporterTarget, kept: boolean): void {
  if (target.type === 'syslog' || secretOf(target) !== undefined || kept) return;
  const field = target.type === 'splunk_hec' ? 'token' : 'secret';
  throw new ValidationError('the audit exporter is invalid', [
    { path: `/target/${field}`, message: `a ${target.type} target needs its ${field}` },
  ]);
}

/**
 * `POST /audit_exporters`: an exporter of the workspace's trail, with its cursor on the workspace's chain (at 0, or at
 * the chain's last event for `from: "now"`). The deliverer (deliverer.ts) takes it from there.
 */
export async function createAuditExporter(
  { db, secrets }: ControlPlaneDeps,
  { body, caller }: Input<CreateAuditExporterBody>,
) {
  requireScope(caller, 'audit');
  const { workspaceId } = caller;
  await refuseTakenName(db, workspaceId, body.name);
  refuseMissingSecret(body.target, false);
  const id = randomUUID();
  const value = secretOf(body.target);
  const secretName = value !== undefined ? auditExporterSecretName(workspaceId, id) : null;
  if (secretName) await secrets.put(secretName, value!);
  const row = await db.$transaction(async (tx) => {
    const last = await tx.auditEvent.findFirst({
      where: { chain: workspaceId },
      orderBy: { seq: 'desc' },
      select: { seq: true },
    });
    const created = await tx.auditExporter.create({
      data: {
        id,
        workspaceId,
        name: body.name,
        kind: body.target.type,
        target: stored(body.target),
        secretName,
        enabled: body.enabled ?? true,
      },
    });
    const seq = body.from === 'now' ? (last?.seq ?? 0) : 0;
    await tx.auditExportCursor.create({ data: { exporterId: id, chain: workspaceId, seq } });
    return created;
  });
  return present(row);
}

/** `GET /audit_exporters`: the workspace's exporters, oldest first. */
export const listAuditExporters = exporterRows.list;

/** `GET /audit_exporters/{id}`. */
export const getAuditExporter = exporterRows.get;

/**
 * `PATCH /audit_exporters/{id}`: the fields given replace the exporter's. A new target is tried at once (its failures
 * so far forgotten); a syslog target drops the sealed value of the HEC or webhook target it replaces.
 */
export async function updateAuditExporter(
  { db, secrets }: ControlPlaneDeps,
  { body, params, caller }: Input<UpdateAuditExporterBody>,
) {
  requireScope(caller, 'audit');
  const { workspaceId } = caller;
  const row = await byId(db, workspaceId, params.id!);
  if (body.name !== undefined) await refuseTakenName(db, workspaceId, body.name, row.id);
  const target = body.target;
  if (target) refuseMissingSecret(target, target.type === row.kind && row.secretName !== null);
  const value = target ? secretOf(target) : undefined;
  const secretName = !target
    ? row.secretName
    : target.type === 'syslog'
      ? null
      : auditExporterSecretName(workspaceId, row.id);
  if (value !== undefined) await secrets.put(secretName!, value);
  const updated = await db.$transaction(async (tx) => {
    const result = await tx.auditExporter.update({
      where: { id: row.id },
      data: {
        ...given(body, 'name', 'enabled'),
        ...(target ? { kind: target.type, target: stored(target), secretName } : {}),
      },
    });
    if (target || body.enabled !== undefined)
      await tx.auditExportCursor.updateMany({
        where: { exporterId: row.id },
        data: { attempts: 0, single: false, nextAttemptAt: null },
      });
    return result;
  });
  if (row.secretName && secretName === null) await secrets.delete(row.secretName);
  return present(updated);
}

/** `DELETE /audit_exporters/{id}`: the exporter, its cursors and dead letters, then its sealed value. */
export async function deleteAuditExporter({ db, secrets }: ControlPlaneDeps, { params, caller }: Input): Promise<void> {
  requireScope(caller, 'audit');
  const row = await byId(db, caller.workspaceId, params.id!);
  await db.auditExporter.delete({ where: { id: row.id } });
  if (row.secretName) await secrets.delete(row.secretName);
}

/** Dead letters answered by the status, newest first. */
const deadLetterPage = 100;

/**
 * `GET /audit_exporters/{id}/status`: per chain, the last event the receiver acknowledged and how many are still to
 * send; the failures since the last delivery; the newest dead letters.
 */
export async function getAuditExporterStatus({ db }: ControlPlaneDeps, { params, caller }: Input) {
  const row = await byId(db, caller.workspaceId, params.id!);
  const cursors = await db.auditExportCursor.findMany({ where: { exporterId: row.id }, orderBy: { chain: 'asc' } });
  const heads = await db.auditEvent.groupBy({
    by: ['chain'],
    where: { chain: { in: cursors.map((c) => c.chain) } },
    _max: { seq: true },
  });
  const head = new Map(heads.map((h) => [h.chain, h._max.seq ?? 0]));
  const deadLetters = await db.auditExportDeadLetter.findMany({
    where: { exporterId: row.id },
    orderBy: { at: 'desc' },
    take: deadLetterPage,
  });
  const failing = cursors.find((c) => c.failingSince !== null);
  const iso = (d: Date | null) => d?.toISOString() ?? null;
  return {
    id: row.id,
    name: row.name,
    state: !row.enabled ? ('disabled' as const) : failing ? ('failing' as const) : ('ok' as const),
    cursors: cursors.map((c) => ({
      chain: c.chain,
      seq: c.seq,
      lag: Math.max(0, (head.get(c.chain) ?? 0) - c.seq),
      attempts: c.attempts,
      lastDeliveredAt: iso(c.lastDeliveredAt),
      failingSince: iso(c.failingSince),
      nextAttemptAt: iso(c.nextAttemptAt),
      lastError: c.lastError,
      lastErrorAt: iso(c.lastErrorAt),
    })),
    lastError: failing?.lastError ?? null,
    deadLetters: deadLetters.map((d) => ({
      id: d.id,
      chain: d.chain,
      seq: d.seq,
      eventId: d.eventId,
      error: d.error,
      attempts: d.attempts,
      at: d.at.toISOString(),
    })),
  };
}
