import { randomUUID } from 'node:crypto';
import type { AuditActor, AuditEventInput, AuditSource } from '@toolplane/contracts';
import type { Logger } from '@toolplane/logger';
import { currentTraceIds } from '@toolplane/telemetry';
import type { NextFunction, Request, Response } from 'express';
import type { AuditTrail } from '../db/audit-trail.ts';
import { auditScopes, type AuditScope, type PendingAuditEvent } from '../db/audited-db.ts';
import type { AuditDeclaration } from '../openapi/registry.ts';
import { callerIfAny, type Caller } from './auth.ts';

/** The Prisma model whose row each audited resource type is (its fields become an event's `changes`). */
const models: Record<string, string> = {
  access_policy: 'accessPolicy',
  quota: 'quota',
  guardrail: 'guardrail',
  approval: 'approval',
  approval_link: 'approvalLink',
  api_key: 'apiKey',
  connector: 'connector',
  connector_instance: 'connectorInstance',
  server: 'mcpServer',
  external_mcp_server: 'externalMcpServer',
  external_user: 'externalUser',
  user_connection: 'userConnection',
  workflow_deployment: 'workflowDeployment',
  debug_session: 'debugSession',
  workspace: 'workspace',
  role_mapping: 'roleMapping',
  session_settings: 'sessionSettings',
  scim_token: 'scimToken',
  enterprise_idp: 'enterpriseIdp',
  audit_exporter: 'auditExporter',
  change_request: 'changeRequest',
  change_approval_settings: 'changeApprovalSettings',
  task_grant: 'taskGrant',
};

/** A request's audit state: its scope (db/audited-db.ts), the operation that matched, and what the answer named. */
interface RequestAudit extends AuditScope {
  id: string;
  source: AuditSource;
  declaration?: AuditDeclaration;
  /** The `id` (else `name`) of the JSON the request was answered with: a created resource's. */
  answered?: string;
}

const audits = new WeakMap<Request, RequestAudit>();

/** The operation that matched declared this (resources/operation.ts): what the request's event says it did. */
export function declareAudit(req: Request, declaration: AuditDeclaration | undefined): void {
  const audit = audits.get(req);
  if (audit) audit.declaration = declaration;
}

const requestIdPattern = /^[A-Za-z0-9._:-]{1,128}$/;

function sourceOf(req: Request, requestId: string): AuditSource {
  const traceparent = /^00-([0-9a-f]{32})-/.exec(req.header('traceparent') ?? '')?.[1];
  const given = req.header('x-request-id');
  return {
    requestId,
    // The caller's own id, kept beside ours: never the event's request id (two requests could give the same one).
    ...(given && requestIdPattern.test(given) ? { clientRequestId: given } : {}),
    traceId: currentTraceIds()?.traceId ?? traceparent ?? null,
    clientAddress: req.ip ?? null,
    userAgent: req.header('user-agent')?.slice(0, 1024) ?? null,
  };
}

/** Who an event says acted: the key, else the person's subject. */
export function actorOf(c: Pick<Caller, 'keyId' | 'keyName' | 'subject'> | undefined): AuditActor {
  if (!c) return { type: 'anonymous', id: null, name: null };
  if (c.keyId !== undefined) return { type: 'api_key', id: c.keyId, name: c.keyName ?? null };
  return { type: 'oauth_subject', id: c.subject ?? null, name: null };
}

/** The path's parameters, joined: `alice/5f3…` for a person's connection, the id or name of most resources. */
function resourceIdOf(req: Request): string | null {
  const values = Object.values(req.params ?? {}).filter((v): v is string => typeof v === 'string');
  return values.length > 0 ? values.join('/') : null;
}

/**
 * The resource a request ended with: its path's ids, and what a POST created under them (a server's secret:
 * `<server>/<NAME>`, as its update and deletion name it).
 */
function createdId(req: Request, fromPath: string | null, answered: string | undefined): string | null {
  if (answered === undefined || req.method !== 'POST') return fromPath ?? answered ?? null;
  if (fromPath === null) return answered;
  return fromPath.split('/').includes(answered) ? fromPath : `${fromPath}/${answered}`;
}

function pendingOf(req: Request, audit: RequestAudit): PendingAuditEvent | undefined {
  const c = callerIfAny(req);
  if (!audit.declaration || !c) return undefined;
  return {
    id: audit.id,
    at: new Date().toISOString(),
    workspaceId: c.workspaceId,
    actor: actorOf(c),
    action: audit.declaration.action,
    resource: { type: audit.declaration.resource, id: resourceIdOf(req) },
    source: audit.source,
    details: null,
  };
}

/** The event a request ends with when no transaction carried it: a refusal (401, 403), a change or a failure. */
function closingEvent(req: Request, res: Response, audit: RequestAudit): AuditEventInput | undefined {
  const status = res.statusCode;
  if (status === 401 || status === 403) {
    const c = callerIfAny(req);
    const d = audit.declaration;
    return {
      id: audit.id,
      at: new Date().toISOString(),
      workspaceId: c?.workspaceId ?? null,
      actor: actorOf(c),
      action: d?.action ?? 'api.request',
      resource: { type: d?.resource ?? 'api', id: d ? resourceIdOf(req) : null },
      outcome: 'refused',
      status,
      source: audit.source,
      changes: null,
      details: { method: req.method, path: req.originalUrl.split('?')[0]!.slice(0, 512) },
    };
  }
  if (audit.recorded || (status >= 300 && status < 500)) return undefined;
  // A dry run compiled a change and rolled it back: nothing changed, nothing to record. Only an operation that declares
  // dry runs, and only when its handler said it rolled back: never because of the query string.
  if (status < 300 && audit.declaration?.dryRun && audit.rolledBack) return undefined;
  const pending = audit.pending();
  if (!pending) return undefined;
  return {
    ...pending,
    resource: { type: pending.resource.type, id: createdId(req, pending.resource.id, audit.answered) },
    outcome: status < 300 ? 'success' : 'failed',
    status,
    changes: null,
  };
}

/** The audit source of a request (its id, trace, address): what the operations it runs in-process record too. */
export function auditSourceOf(req: Request): AuditSource {
  return audits.get(req)?.source ?? sourceOf(req, randomUUID());
}

/** What the request was answered with names a resource (`id`, else `name`): a created resource's id for its event. */
export function answered(req: Request, body: unknown): void {
  const audit = audits.get(req);
  const named = (body as { id?: unknown } | null)?.id ?? (body as { name?: unknown } | null)?.name;
  if (audit && typeof named === 'string') audit.answered = named;
}

/**
 * The audit scope of one operation run in-process on a caller's behalf (`POST /workspace_files/apply`: each step is
 * the operation's own handler, resources/operation.ts): the step's first writing transaction carries the operation's
 * own event (its action, the principal row's changes), with the running request's source and `details.via`. `close`
 * appends it alone when no transaction did (a secret's change) and the step succeeded.
 */
export function stepAuditScope(
  c: Caller,
  source: AuditSource,
  step: { declaration: AuditDeclaration; resourceId: string | null; via: string; details?: Record<string, unknown> },
): AuditScope & { close(trail: AuditTrail): Promise<void> } {
  const id = randomUUID();
  const pending = (): PendingAuditEvent => ({
    id,
    at: new Date().toISOString(),
    workspaceId: c.workspaceId,
    actor: actorOf(c),
    action: step.declaration.action,
    resource: { type: step.declaration.resource, id: step.resourceId },
    source,
    details: { via: step.via, ...step.details },
  });
  const scope = {
    pending,
    model: () => models[step.declaration.resource],
    recorded: undefined as AuditScope['recorded'],
    open: true,
    async close(trail: AuditTrail) {
      scope.open = false;
      if (!scope.recorded) await trail.appendAlone({ ...pending(), outcome: 'success', status: null, changes: null });
    },
  };
  return scope;
}

/**
 * The management API's audit (ADR 0037): every request gets an id of its own (`x-request-id` in the answer; a
 * client's `x-request-id`, when it is a plain token, is kept as the event's `source.clientRequestId`)
 * and, for the rest of its handling, an audit scope: the first transaction that writes carries the event of an
 * audited operation (db/audited-db.ts). When the answer is sent, a refusal (401, 403) or an audited operation whose
 * event no transaction carried (its change is outside PostgreSQL, or it failed) gets its event in a transaction of
 * its own; a failure to write it is logged as an error.
 */
export function requestAudit(opts: { trail: AuditTrail; log: Logger }) {
  return (req: Request, res: Response, next: NextFunction) => {
    const requestId = randomUUID();
    res.setHeader('x-request-id', requestId);
    const audit: RequestAudit = {
      id: randomUUID(),
      source: sourceOf(req, requestId),
      recorded: undefined,
      open: true,
      pending: () => pendingOf(req, audit),
      model: () => (audit.declaration ? models[audit.declaration.resource] : undefined),
    };
    audits.set(req, audit);
    res.on('finish', () => {
      audit.open = false;
      const event = closingEvent(req, res, audit);
      if (!event) return;
      opts.trail
        .appendAlone(event)
        .catch((err: unknown) => opts.log.error({ err, action: event.action, requestId }, 'audit event not stored'));
    });
    auditScopes.run(audit, next);
  };
}
