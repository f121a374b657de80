// node ping.mjs CHAIN PAUSE_MS [SENDS]: one byte through CHAIN relay processes and back, one send at a time
import net from 'node:net';
import { fork } from 'node:child_process';
const chain = Number(process.argv[2]);
const gap = Number(process.argv[3]);
const n = Number(process.argv[4] ?? 200);
const base = 19500;
const kids = [];
for (let i = chain - 1; i >= 0; i--) {
  const k = fork(new URL('./relay.mjs', import.meta.url), [
    String(base + i),
    i === chain - 1 ? '0' : String(base + i + 1),
  ]);
  await new Promise((r) => k.once('message', r));
  kids.push(k);
}
const s = net.connect(base, '127.0.0.1');
s.setNoDelay(true);
await new Promise((r) => s.once('connect', r));
const rtts = [];
for (let i = 0; i < n; i++) {
  if (gap) await new Promise((r) => setTimeout(r, gap));
  const t = process.hrtime.bigint();
  await new Promise((r) => {
    s.once('data', r);
    s.write('x');
  });
  rtts.push(Number(process.hrtime.bigint() - t) / 1000);
}
rtts.sort((a, b) => a - b);
console.log(
  `chain=${chain} gap=${gap}ms p50=${rtts[n >> 1].toFixed(0)}us p90=${rtts[Math.floor(n * 0.9)].toFixed(0)}us`,
);
s.destroy();
kids.forEach((k) => k.kill());
