import { lazy, Suspense, useMemo, useState, type ReactNode } from 'react';
import type { ManagementClient } from '@toolplane/client';
import { unwrap, type Schemas } from '../api.ts';
import { Link } from '../router.tsx';
import { Empty, Loading, Show, useLoad } from '../ui.tsx';
import { ResourceTable, type Column } from './resource-table.tsx';

// The charting library is loaded with the first chart, out of the initial JavaScript.
const TimeChart = lazy(() => import('../charts.tsx').then((m) => ({ default: m.TimeChart })));

export type TrafficWindow = '1h' | '24h';
type Stats = Schemas['TrafficStats'];
type ToolTraffic = Schemas['ToolTraffic'];
type Point = Stats['series'][number];

export const windowLabels: Record<TrafficWindow, string> = { '1h': 'Last hour', '24h': 'Last day' };

const percent = (rate: number) => `${Math.round(rate * 1000) / 10} %`;
const latency = (ms: number | null) => (ms === null ? '—' : `${ms} ms`);
const clock = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

/** The window's field of a traffic form: the last hour or the last day. */
export function WindowSelect({
  id,
  value,
  onChange,
}: {
  id: string;
  value: TrafficWindow;
  onChange: (w: TrafficWindow) => void;
}) {
  return (
    <div className="field">
      <label htmlFor={id}>Window</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value as TrafficWindow)}>
        {(Object.keys(windowLabels) as TrafficWindow[]).map((w) => (
          <option key={w} value={w}>
            {windowLabels[w]}
          </option>
        ))}
      </select>
    </div>
  );
}

/** The traffic of the workspace, a server or one tool over `window`, as figures, charts and a table. */
export function TrafficPanel({
  client,
  window,
  serverId,
  tool,
  to,
  what,
  serverName,
}: {
  client: ManagementClient;
  window: TrafficWindow;
  serverId?: string;
  tool?: string;
  /** A fixed end of the window (ISO date), for reports; else now. */
  to?: string;
  /** What the figures are of, for the headings and names (`the workspace`, `search_tickets`). */
  what: string;
  /** A server's name by id, for the tool tables; they are left out when absent. */
  serverName?: (id: string) => string;
}) {
  const [stats, reload] = useLoad(
    () =>
      unwrap(
        client.GET('/stats', {
          params: {
            query: {
              window,
              top: 5,
              ...(serverId ? { server_id: serverId } : {}),
              ...(tool ? { tool } : {}),
              ...(to ? { to } : {}),
            },
          },
        }),
      ),
    [client, window, serverId, tool, to],
  );
  return (
    <section className="traffic" aria-label={`Traffic of ${what}`}>
      <Show loaded={stats} what="the traffic">
        {(s) => <TrafficView stats={s} what={what} serverName={serverName} onRefresh={reload} />}
      </Show>
    </section>
  );
}

/** The series as the charts draw them: calls and errors, the error rate and the latency (none where no call was). */
function chartSeries(stats: Stats) {
  const times = stats.series.map((p) => Date.parse(p.start) / 1000);
  const busy = (v: number | null, p: { calls: number }) => (p.calls === 0 ? null : v);
  return {
    times,
    calls: [
      { label: 'Calls', values: stats.series.map((p) => p.calls), color: '#1d4ed8', bars: true },
      { label: 'Errors', values: stats.series.map((p) => p.errors), color: '#a11212', bars: true },
      // Refused before anything was sent (held, over a quota, unconfirmed): a series of its own.
      { label: 'Refused', values: stats.series.map((p) => p.refused), color: '#6b7280', bars: true },
    ],
    errors: [{ label: 'Error rate', values: stats.series.map((p) => busy(p.error_rate * 100, p)), color: '#a11212' }],
    latency: [
      { label: 'p50', values: stats.series.map((p) => busy(p.p50_ms, p)), color: '#12652b' },
      { label: 'p95', values: stats.series.map((p) => busy(p.p95_ms, p)), color: '#b45309' },
    ],
  };
}

function Totals({ totals: t, what }: { totals: Stats['totals']; what: string }) {
  return (
    <dl className="figures" aria-label={`Totals of ${what}`}>
      <div>
        <dt>Calls</dt>
        <dd>{t.calls}</dd>
      </div>
      <div>
        <dt>Errors</dt>
        <dd>
          {t.errors} ({percent(t.error_rate)})
        </dd>
      </div>
      <div>
        <dt>Refused</dt>
        <dd title="Refused before anything was sent: held for an approval, over a quota, unconfirmed, refused by a rule">
          {t.refused}
        </dd>
      </div>
      <div>
        <dt>p50 latency</dt>
        <dd>{latency(t.p50_ms)}</dd>
      </div>
      <div>
        <dt>p95 latency</dt>
        <dd>{latency(t.p95_ms)}</dd>
      </div>
    </dl>
  );
}

function Charts({ stats, step }: { stats: Stats; step: string }) {
  const charts = useMemo(() => chartSeries(stats), [stats]);
  return (
    <Suspense fallback={<Loading what="the charts" />}>
      <div className="charts">
        <ChartFigure title={`Calls, errors and refusals per ${step}`} wide>
          <TimeChart times={charts.times} series={charts.calls} />
        </ChartFigure>
        <ChartFigure title="Error rate">
          <TimeChart times={charts.times} series={charts.errors} unit="%" />
        </ChartFigure>
        <ChartFigure title="Latency (p50, p95)">
          <TimeChart times={charts.times} series={charts.latency} unit=" ms" />
        </ChartFigure>
      </div>
    </Suspense>
  );
}

const seriesColumns: Column<Point>[] = [
  { header: 'From', rowHeader: true, cell: (p) => <time dateTime={p.start}>{clock(p.start)}</time> },
  { header: 'Calls', cell: (p) => p.calls },
  { header: 'Errors', cell: (p) => p.errors },
  { header: 'Error rate', cell: (p) => percent(p.error_rate) },
  { header: 'Refused', cell: (p) => p.refused },
  { header: 'p50', cell: (p) => latency(p.p50_ms) },
  { header: 'p95', cell: (p) => latency(p.p95_ms) },
];

function TrafficView({
  stats,
  what,
  serverName,
  onRefresh,
}: {
  stats: Stats;
  what: string;
  serverName?: (id: string) => string;
  onRefresh: () => void;
}) {
  const step = stats.step_seconds === 60 ? 'minute' : `${stats.step_seconds / 60} minutes`;
  return (
    <>
      <div className="traffic-head">
        <p className="hint">
          {clock(stats.from)} to {clock(stats.to)}, per {step}.
        </p>
        <button type="button" className="secondary" onClick={onRefresh}>
          Refresh
        </button>
      </div>
      <Totals totals={stats.totals} what={what} />
      {stats.totals.calls === 0 ? <Empty>No calls in this window.</Empty> : <Charts stats={stats} step={step} />}
      <details className="traffic-table">
        <summary>The figures per {step} as a table</summary>
        <ResourceTable
          rows={stats.series}
          columns={seriesColumns}
          rowKey={(p) => p.start}
          label={`Traffic of ${what} per ${step}`}
        />
      </details>
      {serverName && stats.busiest_tools.length > 0 && (
        <div className="tool-tables">
          <ToolTable title="Busiest tools" tools={stats.busiest_tools} serverName={serverName} />
          {stats.most_errors.length > 0 && (
            <ToolTable title="Tools with the most errors" tools={stats.most_errors} serverName={serverName} />
          )}
        </div>
      )}
    </>
  );
}

function ChartFigure({ title, wide = false, children }: { title: string; wide?: boolean; children: ReactNode }) {
  return (
    <figure className={wide ? 'chart wide' : 'chart'}>
      <figcaption>{title}</figcaption>
      {children}
    </figure>
  );
}

/** Tools by calls or by errors, each linking to its records (filtered by server and tool). */
function ToolTable({
  title,
  tools,
  serverName,
}: {
  title: string;
  tools: ToolTraffic[];
  serverName: (id: string) => string;
}) {
  const columns: Column<ToolTraffic>[] = [
    {
      header: 'Tool',
      rowHeader: true,
      cell: (t) => (
        <Link
          href={`/records?${new URLSearchParams({ server_id: t.server_id, tool: t.tool }).toString()}`}
          aria-label={`Records of ${t.tool} on ${serverName(t.server_id)}`}
        >
          <code>{t.tool}</code>
        </Link>
      ),
    },
    { header: 'Server', cell: (t) => serverName(t.server_id) },
    { header: 'Calls', cell: (t) => t.calls },
    { header: 'Errors', cell: (t) => `${t.errors} (${percent(t.error_rate)})` },
    { header: 'Refused', cell: (t) => t.refused },
  ];
  return (
    <ResourceTable
      rows={tools}
      columns={columns}
      rowKey={(t) => `${t.server_id}/${t.tool}`}
      label={title}
      caption={title}
      showCaption
    />
  );
}

/** A server's traffic on its page: the whole server or one of its tools, over the last hour or day. */
export function ServerTraffic({
  client,
  server,
  tools,
}: {
  client: ManagementClient;
  server: { id: string; name: string };
  tools: string[];
}) {
  const [window, setWindow] = useState<TrafficWindow>('1h');
  const [tool, setTool] = useState('');
  return (
    <>
      <h2>Traffic</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()}>
        <WindowSelect id="traffic-window" value={window} onChange={setWindow} />
        <div className="field">
          <label htmlFor="traffic-tool">Show the traffic of</label>
          <select id="traffic-tool" value={tool} onChange={(e) => setTool(e.target.value)}>
            <option value="">all its tools</option>
            {tools.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </div>
      </form>
      <TrafficPanel
        client={client}
        window={window}
        serverId={server.id}
        tool={tool || undefined}
        what={tool || server.name}
        serverName={tool ? undefined : () => server.name}
      />
    </>
  );
}
