import type { Db } from '../../db/client.ts';

/**
 * What the records of a period say per principal (an API key, by the records' `key_id`; a person, by their
 * `username`), in SQL aggregates over `execution_records` (the workspace's `started_at` index bounds the scan): never
 * a record loaded. Calls that never reached the upstream are counted apart as refused: they are not use.
 * Those are the records with outcome `rejected` (refused before any request: held for an approval, over a quota,
 * unconfirmed, refused by a rule or a guardrail, invalid arguments) and those access policies refused (`access.*`).
 */

/** The most principals one answer holds (the busiest first). */
export const PRINCIPALS_MAX = 100;
/** The most (principal, server, tool) rows one answer reads. */
const ROWS_MAX = 20_000;

type PrincipalType = 'api_key' | 'external_user';
export interface PrincipalKey {
  type: PrincipalType;
  id: string;
}
export interface Period {
  workspaceId: string;
  from: Date;
  to: Date;
}

/** The records of the period, one row per principal they name (a call with a key and a person counts for both). */
const rec = (filter: string) => `WITH rec AS (
    SELECT r.id AS record_id, p.type, p.id, r.server_id, r.tool, r.started_at, r.outcome, r.error_code, r.steps,
      (r.outcome = 'rejected' OR coalesce(r.error_code, '') LIKE 'access.%') AS refused
    FROM execution_records r
    CROSS JOIN LATERAL (VALUES ('api_key', r.key_id), ('external_user', r.username)) AS p(type, id)
    WHERE r.workspace_id = $1::uuid AND r.started_at >= $2::timestamp AND r.started_at < $3::timestamp
      AND p.id IS NOT NULL AND NOT r.twin ${filter}
  )`;

const periodParams = (p: Period) => [p.workspaceId, p.from.toISOString(), p.to.toISOString()];
/** Only the principals chosen (`$4`: their types, `$5`: their ids). */
const chosen = 'AND (p.type, p.id) IN (SELECT * FROM unnest($4::text[], $5::text[]))';
const chosenParams = (ps: readonly PrincipalKey[]) => [ps.map((p) => p.type), ps.map((p) => p.id)];

/** The principals with records in the period, busiest first (at most `PRINCIPALS_MAX` + 1: the cut is seen). */
export async function principalsOf(db: Db, period: Period, only?: PrincipalKey) {
  const rows = await db.$queryRawUnsafe<(PrincipalKey & { calls: number })[]>(
    `${rec(only ? chosen : '')}
     SELECT type, id, count(*)::int AS calls FROM rec GROUP BY type, id ORDER BY calls DESC, type, id
     LIMIT ${PRINCIPALS_MAX + 1}`,
    ...periodParams(period),
    ...(only ? chosenParams([only]) : []),
  );
  return rows;
}

export interface UseRow extends PrincipalKey {
  server_id: string;
  tool: string;
  calls: number;
  errors: number;
  refused: number;
}

/** Per principal, server and tool: the calls that ran, those that failed, those access policies refused. */
export async function useOf(db: Db, period: Period, principals: readonly PrincipalKey[]): Promise<UseRow[]> {
  return db.$queryRawUnsafe<UseRow[]>(
    `${rec(chosen)}
     SELECT type, id, server_id::text AS server_id, tool,
       count(*) FILTER (WHERE NOT refused)::int AS calls,
       count(*) FILTER (WHERE NOT refused AND outcome <> 'success')::int AS errors,
       count(*) FILTER (WHERE refused)::int AS refused
     FROM rec GROUP BY type, id, server_id, tool ORDER BY type, id, server_id, tool LIMIT ${ROWS_MAX}`,
    ...periodParams(period),
    ...chosenParams(principals),
  );
}

export interface PeakRow extends PrincipalKey {
  window: 'hour' | 'day';
  peak: number;
  peak_at: Date;
}

/** Per principal: the most calls (not refused by access) in one UTC hour and in one UTC day, and when. */
export async function peaksOf(db: Db, period: Period, principals: readonly PrincipalKey[]): Promise<PeakRow[]> {
  return db.$queryRawUnsafe<PeakRow[]>(
    `${rec(chosen)},
     buckets AS (
       SELECT type, id, w.win, date_trunc(w.win, started_at) AS peak_at, count(*)::int AS calls
       FROM rec CROSS JOIN (VALUES ('hour'), ('day')) AS w(win)
       WHERE NOT refused
       GROUP BY type, id, w.win, date_trunc(w.win, started_at)
     )
     SELECT DISTINCT ON (type, id, win) type, id, win AS "window", calls AS peak, peak_at
     FROM buckets ORDER BY type, id, win, calls DESC, peak_at`,
    ...periodParams(period),
    ...chosenParams(principals),
  );
}

export interface FindingRow extends PrincipalKey {
  server_id: string;
  tool: string;
  detector: string;
  on: 'result' | 'arguments';
  calls: number;
  last_at: Date;
}

/**
 * Per principal, server, tool and detector: the calls whose record lists a guardrail finding of a `secrets:*` or
 * `pii:*` detector (in the result, or in the arguments), whatever the guardrail did.
 */
export async function findingsOf(db: Db, period: Period, principals: readonly PrincipalKey[]): Promise<FindingRow[]> {
  return db.$queryRawUnsafe<FindingRow[]>(
    `${rec(chosen)}
     SELECT type, id, server_id::text AS server_id, tool, f->>'detector' AS detector,
       coalesce(f->>'on', 'result') AS "on", count(DISTINCT record_id)::int AS calls, max(started_at) AS last_at
     FROM rec CROSS JOIN LATERAL jsonb_array_elements(
       CASE WHEN jsonb_typeof(steps->'guardrails') = 'array' THEN steps->'guardrails' ELSE '[]'::jsonb END) AS f
     WHERE f->>'detector' LIKE 'secrets:%' OR f->>'detector' LIKE 'pii:%'
     GROUP BY type, id, server_id, tool, f->>'detector', coalesce(f->>'on', 'result')
     ORDER BY type, id, server_id, tool, detector, "on" LIMIT ${ROWS_MAX}`,
    ...periodParams(period),
    ...chosenParams(principals),
  );
}

export interface ServerTools {
  id: string;
  name: string;
  tools: string[];
}

/** The workspace's servers and the tools their live catalogs expose (names only, read in SQL). */
export async function serverTools(db: Db, workspaceId: string): Promise<ServerTools[]> {
  return db.$queryRawUnsafe<ServerTools[]>(
    `SELECT s.id::text AS id, s.name,
       coalesce((SELECT array_agg(t->'tool'->>'name' ORDER BY t->'tool'->>'name')
         FROM jsonb_array_elements(CASE WHEN jsonb_typeof(v.catalog::jsonb->'tools') = 'array'
           THEN v.catalog::jsonb->'tools' ELSE '[]'::jsonb END) AS t), '{}') AS tools
     FROM mcp_servers s
     LEFT JOIN catalog_versions v ON v.server_id = s.id AND v.version = s.catalog_version
     WHERE s.workspace_id = $1::uuid ORDER BY s.name`,
    workspaceId,
  );
}
