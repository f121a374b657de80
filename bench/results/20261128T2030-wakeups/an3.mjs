// node an3.mjs SAMPLES: per process, CPU and context switches per second over each load.mjs process's lifetime,
// skipping its first 3 s (the harness's 2 s warm-up) and last 1 s
import fs from 'node:fs';
const rows = fs
  .readFileSync(process.argv[2], 'utf8')
  .trim()
  .split('\n')
  .map((l) => {
    const p = l.split(' ');
    return { t: +p[0], pid: p[1], v: +p[2], n: +p[3], u: +p[4], s: +p[5], cmd: p.slice(6).join(' ') };
  });
const by = new Map();
for (const r of rows) {
  if (!by.has(r.pid)) by.set(r.pid, []);
  by.get(r.pid).push(r);
}
for (const lr of by.values()) {
  if (!lr[0].cmd.includes('load.mjs')) continue;
  const t0 = lr[0].t + 3000,
    t1 = lr[lr.length - 1].t - 1000;
  console.log('window', lr[0].cmd.slice(30, 70), ((t1 - t0) / 1000).toFixed(1), 's');
  for (const [pid, rs] of by) {
    const a = rs.find((r) => r.t >= t0),
      b = [...rs].reverse().find((r) => r.t <= t1);
    if (!a || !b || b.t <= a.t) continue;
    const dt = (b.t - a.t) / 1000;
    const u = ((b.u - a.u) * 10) / dt,
      s = ((b.s - a.s) * 10) / dt,
      v = (b.v - a.v) / dt,
      n = (b.n - a.n) / dt;
    if (u + s < 5) continue;
    console.log(
      '  ',
      pid,
      'user',
      u.toFixed(0),
      'sys',
      s.toFixed(0),
      'vol',
      v.toFixed(0),
      'invol',
      n.toFixed(0),
      rs[0].cmd.replace(/.*\/(services\/\w+|[\w.-]+\.m?js|redis-server).*/, '$1'),
    );
  }
}
