import { PerformanceObserver, constants } from 'node:perf_hooks';
const s = new Map();
const obs = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const k = e.detail?.kind ?? e.kind;
    const r = s.get(k) ?? { n: 0, t: 0, max: 0, big: 0 };
    r.n++; r.t += e.duration; r.max = Math.max(r.max, e.duration); if (e.duration > 2) r.big++;
    s.set(k, r);
  }
});
obs.observe({ entryTypes: ['gc'] });
const names = { 1: 'scavenge', 2: 'minor-ms', 4: 'mark-compact', 8: 'incremental', 16: 'weak' };
setInterval(() => {
  const out = [...s].map(([k, r]) => `${names[k] ?? k}: n=${r.n} total=${r.t.toFixed(1)}ms max=${r.max.toFixed(2)} >2ms=${r.big}`).join('; ');
  process.stderr.write(`GCSTAT pid=${process.pid} ${out}\n`);
  s.clear();
}, 5000).unref();
