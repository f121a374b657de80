import { lazy, Suspense, useMemo } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Empty, Loading, Show, useLoad } from '../ui.tsx';
import { ResourceTable, type Column } from '../components/resource-table.tsx';
import { Readable } from '../powers.tsx';

// The charting library is loaded with the first chart, out of the initial JavaScript.
const TimeChart = lazy(() => import('../charts.tsx').then((m) => ({ default: m.TimeChart })));

type Usage = Schemas['Usage'];
type UsageRow = Usage['rows'][number];
type Quota = Schemas['Quota'];
type QuotaUsage = Schemas['QuotaUsage'];

const DAY_MS = 86_400_000;
const figure = (n: number) => String(Math.round(n * 100) / 100);
const clock = (iso: string) =>
  new Date(iso).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });

/** How a quota's counter is named: its `per` value, or who shares it. */
function counterName(q: QuotaUsage, value: string | null | undefined): string {
  if (!q.per) return 'all its callers';
  const kind = { api_key: 'API key', person: 'person', subject: 'subject' }[q.per];
  return value ? `${kind} ${value}` : `callers without a ${kind}`;
}

/** One quota: how much is left in its window, one bar per counter (the five most used of a `per` quota). */
function QuotaLeft({ quota, usage }: { quota: Quota; usage: QuotaUsage }) {
  const unit = quota.counts === 'cost' ? 'cost units' : quota.counts === 'in_flight' ? 'calls in flight' : 'calls';
  const when = usage.window ? `per ${quota.window}, resets ${clock(usage.window.resetsAt)}` : 'at once';
  const shown = usage.counters.slice(0, 5);
  return (
    <li className="quota-left">
      <strong>{quota.name}</strong>{' '}
      <span className="hint">
        {usage.limit} {unit} {when}
        {quota.enforce ? '' : ' (shadow: refuses nothing)'}
      </span>
      {shown.length === 0 && <p className="hint">Nothing used in this window: all {usage.limit} left.</p>}
      {shown.map((c) => {
        const name = counterName(usage, c.value);
        return (
          <div key={name} className="quota-bar">
            <meter
              min={0}
              max={Math.max(usage.limit, 1)}
              high={usage.limit * 0.8}
              value={Math.min(c.used, usage.limit)}
              aria-label={`${quota.name}: ${name}`}
            />
            <span>
              {name}: {figure(c.used)} of {usage.limit} used, {figure(c.left)} left
            </span>
          </div>
        );
      })}
      {usage.counters.length > shown.length && (
        <p className="hint">
          and {usage.counters.length - shown.length}
          {usage.truncated ? '+' : ''} more
        </p>
      )}
    </li>
  );
}

/** Every quota of the workspace with how much is left now (read from the edges' counters). */
function QuotasLeft({ client }: { client: ManagementClient }) {
  const [loaded] = useLoad(async () => {
    const quotas = (await unwrap(client.GET('/quotas'))).data;
    return Promise.all(
      quotas.map(async (quota) => ({
        quota,
        usage: await unwrap(client.GET('/quotas/{id}/usage', { params: { path: { id: quota.id } } })),
      })),
    );
  }, [client]);
  return (
    <section aria-labelledby="usage-quotas">
      <h2 id="usage-quotas">Quotas: what is left</h2>
      <Show loaded={loaded} what="the quotas">
        {(list) =>
          list.length === 0 ? (
            <Empty>No quota: calls are counted, nothing is limited.</Empty>
          ) : (
            <ul className="quota-list">
              {list.map(({ quota, usage }) => (
                <QuotaLeft key={quota.id} quota={quota} usage={usage} />
              ))}
            </ul>
          )
        }
      </Show>
    </section>
  );
}

/** The biggest spenders by cost units (then calls), at most ten. */
function topOf(rows: readonly UsageRow[]): UsageRow[] {
  return [...rows].sort((a, b) => b.costUnits - a.costUnits || b.calls - a.calls).slice(0, 10);
}

/** The top spenders by one kind of caller (`by`: the first column's heading). */
function SpenderTable({ by, rows, name }: { by: string; rows: UsageRow[]; name: (r: UsageRow) => string }) {
  const title = `Top spenders by ${by === 'Person' ? 'person' : by}`;
  const columns: Column<UsageRow>[] = [
    { header: by, rowHeader: true, cell: name },
    { header: 'Calls', cell: (r) => r.calls },
    { header: 'Cost units', cell: (r) => figure(r.costUnits) },
  ];
  return (
    <ResourceTable
      rows={rows}
      columns={columns}
      rowKey={name}
      label={title}
      caption={title}
      showCaption
      empty={`${title}: no calls.`}
    />
  );
}

/** Every day of the range (zeros included) as the chart and its table show it. */
function perDay(usage: Usage) {
  const byDay = new Map(usage.rows.map((r) => [r.day!, r]));
  const days: { day: string; calls: number; costUnits: number }[] = [];
  for (let t = Date.parse(usage.from); t <= Date.parse(usage.to); t += DAY_MS) {
    const day = new Date(t).toISOString().slice(0, 10);
    days.push({ day, calls: byDay.get(day)?.calls ?? 0, costUnits: byDay.get(day)?.costUnits ?? 0 });
  }
  return days;
}

type Day = ReturnType<typeof perDay>[number];
const dayColumns: Column<Day>[] = [
  { header: 'Day', rowHeader: true, cell: (d) => <time dateTime={d.day}>{d.day}</time> },
  { header: 'Calls', cell: (d) => d.calls },
  { header: 'Cost units', cell: (d) => figure(d.costUnits) },
];

/** Calls and cost units per day: a chart (uPlot, lazy) and the same figures as a table. */
function DailyUsage({ usage }: { usage: Usage }) {
  const days = useMemo(() => perDay(usage), [usage]);
  const chart = useMemo(
    () => ({
      times: days.map((d) => Date.parse(d.day) / 1000),
      series: [
        { label: 'Calls', values: days.map((d) => d.calls), color: '#1d4ed8', bars: true },
        { label: 'Cost units', values: days.map((d) => d.costUnits), color: '#b45309' },
      ],
    }),
    [days],
  );
  return (
    <>
      {usage.totals.calls === 0 ? (
        <Empty>No calls in these days.</Empty>
      ) : (
        <Suspense fallback={<Loading what="the chart" />}>
          <figure className="chart wide">
            <figcaption>Calls and cost units per day (UTC)</figcaption>
            <TimeChart times={chart.times} series={chart.series} />
          </figure>
        </Suspense>
      )}
      <details className="traffic-table">
        <summary>The figures per day as a table</summary>
        <ResourceTable rows={days} columns={dayColumns} rowKey={(d) => d.day} label="Usage per day" />
      </details>
    </>
  );
}

/**
 * Usage for chargeback: how much each quota has left in its window, the top spenders (by API key and by person, in
 * cost units) and calls and cost units per day, over the last 30 days (`?to=YYYY-MM-DD` for another end). Everything
 * comes from `GET /usage` (the usage rollup) and `GET /quotas/{id}/usage` (the edges' counters).
 */
export function UsagePage({ client, query }: { client: ManagementClient; query: URLSearchParams }) {
  const to = query.get('to') ?? undefined;
  const [loaded] = useLoad(async () => {
    const get = (group_by: string) =>
      unwrap(client.GET('/usage', { params: { query: { group_by, ...(to ? { to } : {}) } } }));
    const [days, keys, people] = await Promise.all([get('day'), get('api_key'), get('person')]);
    return { days, keys, people };
  }, [client, to]);
  return (
    <>
      <h1>Usage</h1>
      <p className="hint">
        Tool calls that reached the data plane and the cost units they were charged, per UTC day; refused calls are not
        usage. The same figures for chargeback: <code>toolplane usage --csv</code>, <code>GET /api/v1/usage</code>.
      </p>
      <Readable area="policies">
        <QuotasLeft client={client} />
      </Readable>
      <Show loaded={loaded} what="the usage">
        {({ days, keys, people }) => (
          <section className="traffic" aria-label="Usage of the workspace">
            <h2>
              {days.from} to {days.to}
            </h2>
            <dl className="figures" aria-label="Usage totals">
              <div>
                <dt>Calls</dt>
                <dd>{days.totals.calls}</dd>
              </div>
              <div>
                <dt>Cost units</dt>
                <dd>{figure(days.totals.costUnits)}</dd>
              </div>
            </dl>
            <DailyUsage usage={days} />
            <div className="tool-tables">
              <SpenderTable
                by="API key"
                rows={topOf(keys.rows)}
                name={(r) => r.apiKeyName ?? r.apiKeyId ?? 'No API key'}
              />
              <SpenderTable by="Person" rows={topOf(people.rows)} name={(r) => r.person ?? 'No person'} />
            </div>
          </section>
        )}
      </Show>
    </>
  );
}
