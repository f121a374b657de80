import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../../api.ts';
import { ResourceTable, type Column } from '../../components/resource-table.tsx';
import { findingsText, WouldBeDecisions, wouldText } from '../../components/would-be-decisions.tsx';
import { Link } from '../../router.tsx';
import { useLoad } from '../../ui.tsx';
import { Section } from '../../components/section.tsx';
import { type Server } from './fields.tsx';
import { serverName } from './table.tsx';

type RecordSummary = Schemas['ExecutionRecordSummary'];

const DAY_MS = 86_400_000;

/** The last day's records with a log-only guardrail's finding on a result (`guardrail_action=would_*`). */
function WouldBeFindings({ client, servers }: { client: ManagementClient; servers: Server[] }) {
  const [records] = useLoad(async () => {
    const from = new Date(Date.now() - DAY_MS).toISOString();
    const page = await unwrap(
      client.GET('/execution_records', { params: { query: { guardrail_action: 'would_*', from, limit: 100 } } }),
    );
    return page.data;
  }, [client]);
  const columns: Column<RecordSummary>[] = [
    { header: 'When', cell: (r) => <Link href={`/records/${r.id}`}>{new Date(r.started_at).toLocaleString()}</Link> },
    { header: 'Tool', cell: (r) => `${r.tool} on ${serverName(servers, r.server_id)}`, rowHeader: true },
    { header: 'Caller', cell: (r) => r.caller.key_name ?? r.caller.subject ?? r.caller.username ?? '—' },
    { header: 'What it would have done', cell: (r) => wouldFindings(r.guardrails) },
  ];
  return (
    <Section id="would-results" title="Would-be decisions on results (last 24 h)">
      <p className="hint">
        Results a log-only guardrail found something in: the caller got them unchanged. From the execution records.
      </p>
      <ResourceTable
        loaded={records}
        what="the would-be decisions on results"
        columns={columns}
        caption="Would-be decisions on results"
        empty="None in the last 24 hours."
      />
    </Section>
  );
}

/** A record's log-only findings, per guardrail and action: `shadow: would redact pii:email at $.x`. */
function wouldFindings(findings: RecordSummary['guardrails']): string {
  const groups = new Map<string, { detector: string; path: string }[]>();
  for (const f of findings.filter((x) => x.action.startsWith('would_'))) {
    const key = `${f.guardrail}: ${wouldText(f.action)}`;
    groups.set(key, [...(groups.get(key) ?? []), f]);
  }
  return [...groups].map(([key, found]) => `${key} ${findingsText(found)}`).join('; ');
}

export function WouldBeSections({ client, servers }: { client: ManagementClient; servers: Server[] }) {
  return (
    <>
      <WouldBeFindings client={client} servers={servers} />
      <WouldBeDecisions
        client={client}
        action={['guardrail.would_redact', 'guardrail.would_block', 'guardrail.would_flag']}
        title="Would-be decisions on arguments (last 24 h)"
        hint="Calls whose arguments a log-only guardrail found something in: they were sent unchanged."
      />
    </>
  );
}
