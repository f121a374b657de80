import type { ManagementClient } from '@toolplane/client';
import { ApiError, unwrap, type Schemas } from '../api.ts';
import { useLoad } from '../ui.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';

type AuditEvent = Schemas['AuditEvent'];

/**
 * What a would-be decision's audit event says (`access.would_refuse`, `quota.would_refuse`, a guardrail's
 * `guardrail.would_*` on a call's arguments), as far as shown.
 */
interface WouldBeDetails {
  policy?: { name: string | null; id: string };
  quota?: { name: string; limit: number; counts: string };
  guardrail?: { name: string; id: string };
  findings?: { detector: string; path: string }[];
  would?: string;
  condition?: { failed: string | null; error: boolean };
  used?: number;
  server?: string;
  tool?: string;
}

const details = (e: AuditEvent) => (e.details ?? {}) as WouldBeDetails;

function ruleText(e: AuditEvent): string {
  const d = details(e);
  return d.policy ? (d.policy.name ?? d.policy.id) : (d.quota?.name ?? d.guardrail?.name ?? e.resource.id ?? '—');
}

/** A finding's would-be action in words (`would_redact` → `would redact`). */
export const wouldText = (action: string) => action.replace('_', ' ');

/** Where a guardrail found what: `pii:card at $.card`, each finding. */
export const findingsText = (findings: readonly { detector: string; path: string }[]) =>
  findings.map((f) => `${f.detector} at ${f.path}`).join(', ');

function whatText(e: AuditEvent): string {
  const d = details(e);
  if (d.guardrail)
    return `${wouldText(e.action.split('.')[1] ?? '')} in the arguments: ${findingsText(d.findings ?? [])}`;
  if (d.quota) return `would refuse: ${d.used ?? '?'} of ${d.quota.limit} ${d.quota.counts} used`;
  const would = d.would === 'require_approval' ? 'would require approval' : 'would refuse';
  if (!d.condition?.failed) return would;
  return `${would}: ${d.condition.failed} ${d.condition.error ? 'failed' : 'is false'}`;
}

function callerText(a: AuditEvent['actor']): string {
  return a.name ?? a.id ?? a.type;
}

const columns: Column<AuditEvent>[] = [
  { header: 'When', cell: (e) => new Date(e.at).toLocaleString() },
  { header: 'Rule', cell: ruleText, rowHeader: true },
  { header: 'Tool', cell: (e) => `${details(e).tool ?? '—'} on ${details(e).server ?? '—'}` },
  { header: 'Caller', cell: (e) => callerText(e.actor) },
  { header: 'What it would have done', cell: whatText },
];

const DAY_MS = 86_400_000;

type WouldBeAction =
  | 'access.would_refuse'
  | 'quota.would_refuse'
  | 'guardrail.would_redact'
  | 'guardrail.would_block'
  | 'guardrail.would_flag'
  | 'session.would_hold'
  | 'session.would_refuse';

/** The last day's audit events of these actions, newest first (100 of each at most). */
async function lastDay(client: ManagementClient, actions: readonly WouldBeAction[]): Promise<AuditEvent[]> {
  const from = new Date(Date.now() - DAY_MS).toISOString();
  try {
    const pages = await Promise.all(
      actions.map((action) => unwrap(client.GET('/audit_events', { params: { query: { action, from, limit: 100 } } }))),
    );
    return pages.flatMap((p) => p.data).sort((a, b) => b.at.localeCompare(a.at));
  } catch (err) {
    if (err instanceof ApiError && err.status === 403)
      throw new Error('Listing them needs a credential with the "audit" scope (they are audit events).', {
        cause: err,
      });
    throw err;
  }
}

/** The list under its heading: `title` ("Would-be refusals (last 24 h)" unless given) and `hint`. */
function WouldBeList({
  client,
  action,
  title = 'Would-be refusals (last 24 h)',
  hint = 'What rules in log-only mode would have refused in the last 24 hours: the calls went on.',
}: {
  client: ManagementClient;
  action: WouldBeAction | readonly WouldBeAction[];
  title?: string;
  hint?: string;
}) {
  const actions = typeof action === 'string' ? [action] : action;
  const [events] = useLoad(() => lastDay(client, actions), [client, actions.join()]);
  const id = `${actions[0]!.replace('.', '-')}-title`;
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p className="hint">{hint} At most one entry per rule, caller and tool per minute on each edge.</p>
      <ResourceTable
        loaded={events}
        what="the would-be decisions"
        columns={columns}
        caption={title}
        empty="None in the last 24 hours."
      />
    </section>
  );
}

/**
 * The last day's would-be decisions of the workspace's log-only rules of one kind (`enforce: false`), newest first:
 * read from the audit trail (`GET /audit_events?action=…&from=…`, scope `audit`; a guardrail's three actions read
 * together). Each edge records at most one per rule, caller and tool per minute (the metric counts all of them).
 * Given `rules`, shown only while one of them is in log-only mode.
 */
export function WouldBeDecisions({
  rules,
  ...shown
}: { rules?: readonly { enforce: boolean }[] } & Parameters<typeof WouldBeList>[0]) {
  if (rules && !rules.some((r) => !r.enforce)) return null;
  return <WouldBeList {...shown} />;
}
