import fs from 'node:fs';
const dir = process.argv[2];
const m = new Map();
for (const f of fs.readdirSync(dir)) for (const l of fs.readFileSync(`${dir}/${f}`, 'utf8').split('\n')) {
  if (!l) continue; const [id, st, t] = l.split(' '); const r = m.get(id) ?? { T: [] }; const v = Number(BigInt(t)) / 1e6; if (st === 'T') r.T.push(v); else r[st] = v; m.set(id, r);
}
for (const r of m.values()) {
  r.Ew = r.T.find((t) => t > r.E1 && t < (r.W0 ?? 1e18));
  r.Wn = r.T.find((t) => t > r.W0 && t < (r.W1 ?? 1e18));
  r.Wf = r.T.find((t) => t > r.W4 && t < (r.E2 ?? 1e18));
}
const st = ['E0', 'E1', 'Ew', 'Wr', 'W0', 'Wq', 'Wp', 'Wa', 'Wc', 'Wb', 'Ws', 'W1', 'W2', 'W2b', 'W3', 'W4', 'Wf', 'E2', 'E3'];
let rows = [...m.values()].filter((r) => st.every((s) => r[s])).sort((a, b) => a.E1 - b.E1);
rows = rows.slice(Math.floor(rows.length * 0.4));
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(p * (s.length - 1))]; };
console.log(rows.length, 'calls; p50 (mean) ms per segment');
for (let i = 1; i < st.length; i++) { const v = rows.map((r) => r[st[i]] - r[st[i - 1]]); console.log(`${st[i - 1]}->${st[i]}`.padEnd(10), q(v, 0.5).toFixed(3), `(${(v.reduce((a, b) => a + b) / v.length).toFixed(3)})`); }
const v = rows.map((r) => r.E3 - r.E0); console.log('E0->E3'.padEnd(10), q(v, 0.5).toFixed(3));
const wn = rows.map((r) => r.Wn - r.W0); console.log('W0->Wn (next wait written)', q(wn, 0.5).toFixed(3));
const rel = rows.map((r) => r.T.filter((t) => t > r.Wr - 0.5 && t < r.W2).map((t) => (t - r.W1).toFixed(3)).join(',')).slice(0, 12);
console.log('worker T marks relative to W1 (Wr..W2):', rel);
const rel2 = rows.map((r) => r.T.filter((t) => t > r.W2 && t < r.E2).map((t) => (t - r.W4).toFixed(3)).join(',')).slice(0, 12);
console.log('worker T marks relative to W4 (W2..E2):', rel2);
