import { useMemo, useState, type ReactNode } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { SelectField } from '../components/form.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { navigate } from '../router.tsx';
import { useLoad, when } from '../ui.tsx';
import { ProposalPanel } from './least-privilege/proposal.tsx';

type Entry = Schemas['LeastPrivilegeEntry'];

const periods = [1, 7, 14, 31] as const;

/** The period in the address (`?days=`): the last 7 days unless it names another of `periods`. */
function daysOf(query: URLSearchParams): number {
  const d = Number(query.get('days') ?? 7);
  return (periods as readonly number[]).includes(d) ? d : 7;
}

/** `api_key:<id>` or `external_user:<name>`: how the API names a principal. */
const principalRef = (e: Entry) => `${e.principal.type}:${e.principal.id}`;

const kinds = { api_key: 'API key', external_user: 'Person' } as const;

function Unused({ e }: { e: Entry }) {
  if (e.granted.unrestricted)
    return <span>Every tool: no policy names this key (it is the workspace’s own credential).</span>;
  const { servers, tools } = e.unused;
  if (servers.length === 0 && tools.length === 0) return <span>None: it used every grant.</span>;
  return (
    <ul className="compact">
      {servers.map((s) => (
        <li key={s.id}>server {s.name} (none of its tools)</li>
      ))}
      {tools.map((t) => (
        <li key={`${t.serverId} ${t.tool}`}>
          <code>{t.tool}</code> on {t.serverName}
        </li>
      ))}
    </ul>
  );
}

/** A cell's short list: an item a line (`children`), each keyed by `keyOf`. */
interface CompactListProps<T> {
  items: readonly T[];
  keyOf: (item: T) => string;
  children: (item: T) => ReactNode;
}

function CompactList<T>({ items, keyOf, children }: CompactListProps<T>) {
  return (
    <ul className="compact">
      {items.map((item) => (
        <li key={keyOf(item)}>{children(item)}</li>
      ))}
    </ul>
  );
}

function Narrowest({ e }: { e: Entry }) {
  return (
    <CompactList items={e.policies} keyOf={(p) => p.name}>
      {(p) => (
        <>
          {p.name}:{' '}
          {p.tools.map((t) => (
            <code key={t}>{t} </code>
          ))}
        </>
      )}
    </CompactList>
  );
}

function Quotas({ e }: { e: Entry }) {
  return (
    <CompactList items={e.quotas} keyOf={(q) => q.window}>
      {(q) => `${q.quota.limit} calls per ${q.window} (peak ${q.peak} at ${when(q.peakAt)})`}
    </CompactList>
  );
}

function Findings({ e }: { e: Entry }) {
  if (e.findings.length === 0) return <span>None</span>;
  return (
    <CompactList items={e.findings} keyOf={(f) => `${f.serverId} ${f.tool} ${f.detector} ${f.on}`}>
      {(f) => (
        <>
          <code>{f.tool}</code>: {f.detector} in its {f.on} ({f.calls})
        </>
      )}
    </CompactList>
  );
}

function columnsFor(onPropose: (e: Entry) => void, open: string | null): Column<Entry>[] {
  return [
    { header: 'Who', rowHeader: true, cell: (e) => `${kinds[e.principal.type]} ${e.principal.name}` },
    { header: 'Calls that ran', cell: (e) => `${e.calls} (${e.refused} not sent: refused or held)` },
    { header: 'Unused grants', cell: (e) => <Unused e={e} /> },
    { header: 'Narrowest policy', cell: (e) => <Narrowest e={e} /> },
    { header: 'Quotas at peak × margin', cell: (e) => <Quotas e={e} /> },
    { header: 'Findings', cell: (e) => <Findings e={e} /> },
    {
      header: 'Proposal',
      cell: (e) => (
        <button
          type="button"
          className="secondary"
          aria-expanded={open === principalRef(e)}
          aria-label={`Propose as a change for ${kinds[e.principal.type]} ${e.principal.name}`}
          onClick={() => onPropose(e)}
        >
          Propose as a change
        </button>
      ),
    },
  ];
}

/**
 * Least privilege proposed from use (docs/governance.md): per API key and person, from the execution records of a
 * period, the grants never used, the narrowest policies that still allow every call made, quotas at the observed peak
 * × a margin, and the tools whose results or arguments had secrets-like or personal data. "Propose as a change" gives
 * one principal's proposal as workspace files, planned and applied as any files are (a loosening waits for approval).
 */
export function LeastPrivilegePage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const days = daysOf(query);
  // The period's start, fixed when it is chosen: the table and a proposal read the same period.
  const from = useMemo(() => new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 19), [days]);
  const [loaded, reload] = useLoad(
    () => unwrap(client.GET('/least_privilege', { params: { query: { from } } })),
    [client, from],
  );
  const [open, setOpen] = useState<Entry | null>(null);
  const rows = loaded.state === 'done' ? { ...loaded, data: loaded.data.principals } : loaded;
  return (
    <>
      <h1>Least privilege</h1>
      <p className="hint">
        What each API key and person used of what they may call, from the execution records: only calls that reached the
        upstream are use (a call refused by any rule, held for an approval, over a quota or unconfirmed is not).
        Proposals, not changes: a proposal applies only through plan and apply.
      </p>
      <div className="filters">
        <SelectField
          inline
          id="least-privilege-days"
          label="Period"
          value={String(days)}
          onValue={(v) => navigate(v === '7' ? '/least-privilege' : `/least-privilege?days=${v}`)}
          options={periods.map((d) => ({ value: String(d), label: d === 1 ? 'last day' : `last ${d} days` }))}
        />
        <button type="button" className="secondary" onClick={reload}>
          Refresh
        </button>
      </div>
      {loaded.state === 'done' && loaded.data.truncated && (
        <p className="notice">Only the busiest principals are shown: choose a shorter period.</p>
      )}
      <ResourceTable
        loaded={rows}
        what="the least-privilege proposals"
        columns={columnsFor(
          (e) => setOpen(open && principalRef(open) === principalRef(e) ? null : e),
          open && principalRef(open),
        )}
        rowKey={principalRef}
        caption="API keys and people, the busiest first"
        empty="No calls in this period."
      />
      {open && (
        <ProposalPanel
          key={principalRef(open)}
          client={client}
          principal={principalRef(open)}
          title={`${kinds[open.principal.type]} ${open.principal.name}`}
          from={from}
        />
      )}
    </>
  );
}
