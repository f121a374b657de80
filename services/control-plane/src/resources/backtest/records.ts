import { readFileSync } from 'node:fs';
import type { CallerIdentity } from '@toolplane/access';
import type { ConditionCaller } from '@toolplane/conditions';
import { sessionScopes, type Catalog, type CatalogTool } from '@toolplane/contracts';
import { RecordArgumentsOpener } from '@toolplane/secrets';
import type { Db } from '../../db/client.ts';
import type { RecordedCall } from './judge.ts';
import type { RecordSource, ReplayedRecord } from './replay.ts';
import type { RecordedLabel } from './session.ts';

/**
 * The period's execution records as the replay reads them (ADR 0080): keyset pages on (`started_at`, id), each
 * record's arguments opened with the control plane's key (`RECORD_ARGUMENTS_PRIVATE_KEY_FILE`), its tool from the
 * catalog version it was called in, its caller as the edge saw it (the key's server restriction as it is now), its
 * session's scopes and what its result brought into them (`labels`, kept in the `steps` column's object).
 */

interface Row {
  id: string;
  server_id: string;
  catalog_version: number;
  tool: string;
  key_id: string | null;
  username: string | null;
  subject: string | null;
  labels: RecordedLabel[] | null;
  /** An anonymous caller's own client (`Principal.client`); null on records made before it was kept. */
  client: string | null;
  started_at: Date;
  outcome: string;
  error_code: string | null;
  sealed_arguments: string | null;
}

/**
 * Refusals by edge stages the replay does not judge: kept as recorded under both sets of rules. A session rule's
 * refusal (`session.refused`) is judged again; a session the edge could not read (`session.unavailable`) is kept.
 */
const keptRefusal = /^(tool\.invalid_arguments|confirmation\.|session\.(?!refused$)|spending\.|approval\.|code\.)/;

/** The opener of the key (`RECORD_ARGUMENTS_PRIVATE_KEY`, or the file `…_FILE`), read once per key or file. */
const openers = new Map<string, RecordArgumentsOpener>();
export function openerOf(env: {
  RECORD_ARGUMENTS_PRIVATE_KEY_FILE?: string | undefined;
  RECORD_ARGUMENTS_PRIVATE_KEY?: string | undefined;
}): RecordArgumentsOpener | undefined {
  const source = env.RECORD_ARGUMENTS_PRIVATE_KEY ?? env.RECORD_ARGUMENTS_PRIVATE_KEY_FILE;
  if (!source) return undefined;
  let opener = openers.get(source);
  if (!opener) {
    const file = env.RECORD_ARGUMENTS_PRIVATE_KEY_FILE;
    opener = new RecordArgumentsOpener(env.RECORD_ARGUMENTS_PRIVATE_KEY ?? readFileSync(file!, 'utf8'));
    openers.set(source, opener);
  }
  return opener;
}

interface Facts {
  servers: Map<string, string>;
  keys: Map<string, { name: string; serverIds: string[] }>;
  /** Per `server version`: each tool's entry and the one object conditions are compiled against. */
  catalogs: Map<string, Map<string, { entry: CatalogTool; tool: { def: CatalogTool['tool'] } }> | undefined>;
}

async function factsOf(db: Db, workspaceId: string): Promise<Facts> {
  const [servers, keys] = await Promise.all([
    db.mcpServer.findMany({ where: { workspaceId }, select: { id: true, name: true } }),
    db.apiKey.findMany({ where: { workspaceId }, select: { id: true, name: true, serverIds: true } }),
  ]);
  return {
    servers: new Map(servers.map((s) => [s.id, s.name])),
    keys: new Map(keys.map((k) => [k.id, { name: k.name, serverIds: k.serverIds }])),
    catalogs: new Map(),
  };
}

/** The catalog versions a page names, read once each. */
async function loadCatalogs(db: Db, facts: Facts, rows: readonly Row[]): Promise<void> {
  const missing = [...new Set(rows.map((r) => `${r.server_id} ${r.catalog_version}`))].filter(
    (k) => !facts.catalogs.has(k),
  );
  for (const k of missing) {
    const [serverId, version] = k.split(' ') as [string, string];
    const found = await db.catalogVersion.findUnique({
      where: { serverId_version: { serverId, version: Number(version) } },
      select: { catalog: true },
    });
    const catalog = found?.catalog as Catalog | undefined;
    facts.catalogs.set(
      k,
      catalog && new Map(catalog.tools.map((t) => [t.tool.name, { entry: t, tool: { def: t.tool } }])),
    );
  }
}

/** A record of a public server's unauthenticated caller: no key, no subject but `anonymous`. */
const anonymousRecord = (r: Row) => !r.key_id && (!r.subject || r.subject === 'anonymous');

/**
 * The caller as the edge authenticated it: its key (and the key's servers), the person, an OAuth subject; a public
 * server's anonymous caller as the edge decides it (`anonymous`: the server's tools, never a person), not as an OAuth
 * subject named "anonymous".
 */
function callerOf(r: Row, facts: Facts): { identity: CallerIdentity; caller: ConditionCaller } {
  const key = r.key_id ? facts.keys.get(r.key_id) : undefined;
  const identity: CallerIdentity = {
    ...(anonymousRecord(r) ? { anonymous: true } : {}),
    ...(r.key_id ? { keyId: r.key_id } : {}),
    ...(key && key.serverIds.length > 0 ? { keyServerIds: key.serverIds } : {}),
    ...(!r.key_id && r.subject ? { subject: r.subject } : {}),
    ...(r.username ? { username: r.username } : {}),
  };
  const caller: ConditionCaller = {
    ...(r.key_id ? { key_id: r.key_id } : {}),
    ...(key ? { key_name: key.name } : {}),
    ...(!r.key_id && r.subject ? { subject: r.subject } : {}),
    ...(r.username ? { user: r.username } : {}),
  };
  return { identity, caller };
}

/**
 * The call's session scopes, as the edge's `sessionScopes`: its key, else its OAuth subject, else the anonymous
 * caller's own client's session (the record's `client`; a record made before it was kept shares the server's one
 * anonymous session); and the person it acts for (by name here: the edge names the person's id, one per name in a
 * workspace), never for an anonymous caller (the edge resolves no person for one).
 */
function scopesOf(r: Row): string[] {
  const anonymous = anonymousRecord(r);
  const who = {
    ...(r.key_id ? { keyId: r.key_id } : {}),
    ...(r.subject ? { subject: r.subject } : {}),
    ...(r.username && !anonymous ? { userId: r.username } : {}),
  };
  return sessionScopes(who, r.server_id, anonymous ? (r.client ?? undefined) : undefined);
}

function recordOf(r: Row, facts: Facts, opener: RecordArgumentsOpener | undefined): ReplayedRecord {
  const values = {
    byKey: r.key_id ?? '',
    byPerson: r.username ?? '',
    byTool: r.tool,
    byDay: r.started_at.toISOString().slice(0, 10),
  };
  const found = facts.catalogs.get(`${r.server_id} ${r.catalog_version}`)?.get(r.tool);
  if (!found) return { id: r.id, at: r.started_at, values, call: undefined };
  const args = r.sealed_arguments && opener ? opener.open(r.sealed_arguments, r.id) : undefined;
  const call: RecordedCall = {
    id: r.id,
    serverId: r.server_id,
    serverName: facts.servers.get(r.server_id) ?? r.server_id,
    at: r.started_at.getTime(),
    entry: found.entry,
    tool: found.tool,
    ...callerOf(r, facts),
    scopes: scopesOf(r),
    ...(r.labels?.length ? { labels: r.labels } : {}),
    ...(r.outcome === 'rejected' && r.error_code && keptRefusal.test(r.error_code) ? { refused: r.error_code } : {}),
    args,
  };
  return { id: r.id, at: r.started_at, values, call };
}

/** The records of the workspace's period `[from, to)` in time order, a page at a time. */
export async function recordSource(
  db: Db,
  workspaceId: string,
  period: { from: Date; to: Date },
  opener: RecordArgumentsOpener | undefined,
): Promise<RecordSource> {
  const facts = await factsOf(db, workspaceId);
  return {
    async page(after, limit) {
      const rows = await db.$queryRawUnsafe<Row[]>(
        `SELECT id::text AS id, server_id::text AS server_id, catalog_version, tool, key_id, username,
           CASE WHEN jsonb_typeof(steps) = 'object' THEN steps->'caller'->>'subject' END AS subject,
           CASE WHEN jsonb_typeof(steps) = 'object' THEN steps->'labels' END AS labels,
           CASE WHEN jsonb_typeof(steps) = 'object' THEN steps->'caller'->>'client' END AS client,
           started_at, outcome, error_code, sealed_arguments
         FROM execution_records
         WHERE workspace_id = $1::uuid AND started_at >= $2::timestamp AND started_at < $3::timestamp AND NOT twin
           AND (started_at, id) > ($4::timestamp, $5::uuid)
         ORDER BY started_at, id LIMIT $6`,
        workspaceId,
        period.from.toISOString(),
        period.to.toISOString(),
        (after?.at ?? new Date(0)).toISOString(),
        after?.id ?? '00000000-0000-0000-0000-000000000000',
        limit,
      );
      await loadCatalogs(db, facts, rows);
      return rows.map((r) => recordOf(r, facts, opener));
    },
  };
}
