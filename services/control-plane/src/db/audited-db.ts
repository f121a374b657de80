import { AsyncLocalStorage } from 'node:async_hooks';
import type { AuditEvent, AuditEventInput } from '@toolplane/contracts';
import { appendAuditEvent } from './audit-trail.ts';
import type { Db, Tx } from './client.ts';

/** What an audited request's event says before its changes are known. */
export type PendingAuditEvent = Omit<AuditEventInput, 'changes' | 'outcome' | 'status' | 'resource'> & {
  resource: { type: string; id: string | null };
};

/**
 * One audited request (http/audit.ts makes it): the event it owes, and whether it was written. The first transaction
 * of the request that writes carries the event (`recorded`); the request's end writes it alone only when no transaction
 * did (a secret's change, a refusal).
 */
export interface AuditScope {
  /** The event, once the route that matched declared one and the caller is known; undefined: nothing to record. */
  pending(): PendingAuditEvent | undefined;
  /** The Prisma model whose row the operation changes (`accessPolicy`…): its fields become the event's `changes`. */
  model(): string | undefined;
  recorded: AuditEvent | undefined;
  /** False once the response is sent: work the request left running records nothing. */
  open: boolean;
  /** The handler ran a dry run and rolled it back (`dryRunRolledBack`): an operation declaring `dryRun` owes no event. */
  rolledBack?: boolean;
}

export const auditScopes = new AsyncLocalStorage<AuditScope>();

/**
 * Said by the code that rolled a dry run back (the catalog's `change`, a deployment's validation): the current
 * request changed nothing. Its event is skipped only if its operation declares `dryRun` (http/audit.ts).
 */
export function dryRunRolledBack(): void {
  const scope = auditScopes.getStore();
  if (scope) scope.rolledBack = true;
}

const writes = new Set([
  'create',
  'createMany',
  'createManyAndReturn',
  'update',
  'updateMany',
  'updateManyAndReturn',
  'upsert',
  'delete',
  'deleteMany',
]);
/** Writes whose row before the change is read first (same transaction) for the diff. */
const rowWrites = new Set(['update', 'upsert', 'delete']);

/** A column whose value never appears in an event: only that it changed (a webhook's URL often holds its token). */
const concealed = /hash|secret|token|password|credential|cookie|nonce|verifier|authorization|private|webhook/i;
/** Columns that change with every write and say nothing. */
const noise = new Set(['updatedAt']);

interface Written {
  model: string;
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
}

/** Plain JSON (dates as ISO strings, big integers as strings): what the event's hash and JSONB keep alike. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) ?? 'null');
}

function rowOf(value: unknown): Record<string, unknown> | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** Field → before/after of one row's change; a concealed column says "changed". */
export function rowChanges(
  before: Record<string, unknown> | null,
  after: Record<string, unknown> | null,
): Record<string, { before: unknown; after: unknown }> {
  const out: Record<string, { before: unknown; after: unknown }> = {};
  const b = rowOf(plain(before)) ?? {};
  const a = rowOf(plain(after)) ?? {};
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (noise.has(field)) continue;
    const was = b[field] ?? null;
    const is = a[field] ?? null;
    if (JSON.stringify(was) === JSON.stringify(is)) continue;
    out[field] = concealed.test(field)
      ? { before: before ? 'changed' : null, after: after ? 'changed' : null }
      : { before: before ? was : null, after: after ? is : null };
  }
  return out;
}

/** The writes one transaction made, through a view of its client that notes them. */
class WriteLog {
  readonly written: Written[] = [];
  raw = false;
  private readonly principal: string | undefined;

  constructor(principal: string | undefined) {
    this.principal = principal;
  }

  /** `tx` with every model's writes noted (and, for the principal model, the row before the write read first). */
  view(tx: Tx): Tx {
    return new Proxy(tx, {
      get: (target, prop, receiver) => {
        const value: unknown = Reflect.get(target, prop, receiver);
        if (prop === '$executeRaw' || prop === '$executeRawUnsafe') {
          this.raw = true;
          return value;
        }
        if (typeof prop !== 'string' || prop.startsWith('$') || !isDelegate(value)) return value;
        return this.delegate(prop, value);
      },
    });
  }

  private delegate(model: string, delegate: Record<string, (args?: unknown) => Promise<unknown>>) {
    return new Proxy(delegate, {
      get: (target, op) => {
        const method = target[op as string];
        if (typeof op !== 'string' || !writes.has(op) || typeof method !== 'function') return method;
        return async (args?: { where?: unknown }) => {
          const before =
            model === this.principal && rowWrites.has(op) && args?.where !== undefined
              ? rowOf(await target.findUnique!({ where: args.where }))
              : null;
          const result = await method.call(target, args);
          this.written.push({ model, op, before, after: op === 'delete' ? null : rowOf(result) });
          return result;
        };
      },
    });
  }

  get wrote(): boolean {
    return this.raw || this.written.length > 0;
  }

  /** The principal row's changes, its id, and the other writes (`model.op`) in `details`. */
  summary(): Pick<AuditEventInput, 'changes' | 'details'> & { rowId: string | undefined } {
    const main = this.written.find((w) => w.model === this.principal && !w.op.includes('Many')); // a bulk write is no row
    const others = [...new Set(this.written.filter((w) => w !== main).map((w) => `${w.model}.${w.op}`))];
    const id = main?.after?.id ?? main?.before?.id;
    return {
      changes: main ? rowChanges(main.before, main.after) : null,
      details: others.length > 0 ? { alsoChanged: others } : null,
      rowId: typeof id === 'string' ? id : undefined,
    };
  }
}

function isDelegate(value: unknown): value is Record<string, (args?: unknown) => Promise<unknown>> {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof (value as { findUnique?: unknown }).findUnique === 'function' &&
    typeof (value as { create?: unknown }).create === 'function'
  );
}

/** The scope still owing its event, if the current request has one. */
function owing(): AuditScope | undefined {
  const scope = auditScopes.getStore();
  return scope?.open && !scope.recorded && scope.pending() ? scope : undefined;
}

/**
 * The control plane's client: within an audited request (auditScopes), the request's first transaction that writes
 * also appends the request's event, last, before its commit; a write outside a transaction becomes one. Everything
 * else is the plain client. `committed` hears each event after its commit (OpenTelemetry log records).
 */
/** The transaction a bare write becomes: as long as the write itself takes (bounded by the request), waited for up to 10 s. */
const bareWriteLimits = { maxWait: 10_000, timeout: 120_000 };

export function auditedDb(db: Db, committed: (event: AuditEvent) => void): Db {
  const transaction = async <T>(fn: (tx: Tx) => Promise<T>, options?: unknown): Promise<T> => {
    let appended: AuditEvent | undefined;
    const scope = auditScopes.getStore();
    try {
      const result = await db.$transaction(
        async (tx) => {
          const writes = new WriteLog(scope?.model());
          const value = await fn(writes.view(tx));
          const owed = owing();
          if (owed && writes.wrote) appended = await appendOwed(tx, owed, writes);
          return value;
        },
        options as Parameters<Db['$transaction']>[1],
      );
      if (appended) committed(appended);
      return result;
    } catch (err) {
      if (scope && appended && scope.recorded === appended) scope.recorded = undefined; // rolled back with the change
      throw err;
    }
  };
  // One view per model, made at its first use (every query of the control plane goes through these).
  const views = new Map<string, object>();
  const view = (prop: string, value: Record<string, (args?: unknown) => Promise<unknown>>) =>
    new Proxy(value, {
      get(delegate, op) {
        const method = delegate[op as string];
        if (typeof op !== 'string' || !writes.has(op) || typeof method !== 'function' || !owing()) return method;
        // A write of an audited request outside a transaction: in one, with the event. Without the limit of an
        // interactive transaction (5 s by default), which the bare write never had: storing a large imported document
        // may take longer under load.
        return (args?: unknown) =>
          transaction((tx) => (tx as unknown as Record<string, typeof delegate>)[prop]![op]!(args), bareWriteLimits);
      },
    });
  return new Proxy(db, {
    get(target, prop, receiver) {
      if (prop === '$transaction') return transaction;
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof prop !== 'string' || prop.startsWith('$') || !isDelegate(value)) return value;
      let made = views.get(prop);
      if (!made) views.set(prop, (made = view(prop, value)));
      return made;
    },
  });
}

async function appendOwed(tx: Tx, scope: AuditScope, writes: WriteLog): Promise<AuditEvent | undefined> {
  const pending = scope.pending()!;
  const { changes, details, rowId } = writes.summary();
  const event = await appendAuditEvent(tx, {
    ...pending,
    resource: { type: pending.resource.type, id: rowId ?? pending.resource.id },
    outcome: 'success',
    status: null,
    changes,
    details: pending.details || details ? { ...pending.details, ...details } : null,
  });
  scope.recorded = event;
  return event;
}
