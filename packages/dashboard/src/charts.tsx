// The traffic charts, drawn with uPlot (a small canvas time-series library, ~50 kB): loaded only when a page shows
// traffic (`lazy` in pages/traffic.tsx), so it stays out of the initial JavaScript. A canvas says nothing to a screen
// reader: each chart is a labelled figure whose numbers are in the data table beside it (TrafficTable).
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

/** One series of a chart: its values (null: nothing to draw at that step), label and colour. */
export interface ChartSeries {
  label: string;
  values: (number | null)[];
  color: string;
  /** Drawn as bars (counts) rather than a line (rates, latencies). */
  bars?: boolean;
}

const HEIGHT = 180;

/** A time-series chart over `times` (epoch seconds), as wide as its container, redrawn when the data change. */
export function TimeChart({
  times,
  series,
  unit,
}: {
  times: number[];
  series: ChartSeries[];
  /** Appended to the y axis's values (`ms`, `%`). */
  unit?: string;
}) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const bars = uPlot.paths.bars?.({ size: [0.8, 40] });
    const chart = new uPlot(
      {
        width: Math.max(200, el.clientWidth),
        height: HEIGHT,
        legend: { show: true },
        cursor: { drag: { x: false, y: false } },
        // From zero, and at least to 1: a window of zeros still has an axis.
        scales: { y: { range: (_u, _min, hi) => [0, Math.max(1, hi)] } },
        axes: [{}, { values: (_u, ticks) => ticks.map((t) => `${t}${unit ?? ''}`), size: 72 }],
        series: [
          {},
          ...series.map((s) => ({
            label: s.label,
            stroke: s.color,
            width: s.bars ? 1 : 2,
            ...(s.bars ? { fill: s.color, paths: bars } : {}),
            spanGaps: false,
            points: { show: false },
          })),
        ],
      },
      [times, ...series.map((s) => s.values)],
      el,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(200, el.clientWidth), height: HEIGHT }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
  }, [times, series, unit]);
  return <div ref={host} className="chart-canvas" />;
}
