// node samp.mjs OUT: every 0.5 s, `time pid voluntary nonvoluntary utime stime cmdline` for the harness's processes
import fs from 'node:fs';
const out = fs.createWriteStream(process.argv[2]);
let pids = new Map();
let n = 0;
function scan() {
  pids = new Map();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    let c;
    try {
      c = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (/redis-server|services\/(edge|worker)|mcp-server\.js|load\.mjs|upstream\.mjs/.test(c))
      pids.set(d, c.slice(0, 100));
  }
}
setInterval(() => {
  if (n++ % 4 === 0) scan();
  const t = Date.now();
  for (const [pid, c] of pids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
      const st = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
      const v = /voluntary_ctxt_switches:\s+(\d+)/.exec(s)[1];
      const nv = /nonvoluntary_ctxt_switches:\s+(\d+)/.exec(s)[1];
      out.write(`${t} ${pid} ${v} ${nv} ${st[11]} ${st[12]} ${c}\n`);
    } catch {}
  }
}, 500);
