import fs from 'node:fs';
const [file, callsArg] = process.argv.slice(2);
const calls = Number(callsArg);
const p = JSON.parse(fs.readFileSync(file, 'utf8'));
const byFn = new Map(), byFile = new Map(), byChain = new Map();
let total = 0;
const short = (u) => u.replace(/.*node_modules\/\.pnpm\/([^/]+)\/node_modules\/([^/]+(\/[^/]+)?)\/.*/, '$2').replace(/.*\/work\/main\//, '');
const walk = (n, stack) => {
  const f = n.callFrame; const name = `${f.functionName || '(anon)'} ${short(f.url)}:${f.lineNumber}`;
  const st = [...stack, name];
  if (n.selfSize) {
    total += n.selfSize;
    byFn.set(name, (byFn.get(name) ?? 0) + n.selfSize);
    const file = short(f.url) || '(native)'; byFile.set(file, (byFile.get(file) ?? 0) + n.selfSize);
    // nearest frame in our code
    const ours = [...st].reverse().find((s) => /(services|packages)\/[^ ]*\.ts/.test(s) && !/node_modules/.test(s)) ?? '(none)';
    byChain.set(ours, (byChain.get(ours) ?? 0) + n.selfSize);
  }
  for (const c of n.children ?? []) walk(c, st);
};
walk(p.head, []);
const kb = (b) => (b / calls / 1024).toFixed(2);
console.log(`total ${(total / 1048576).toFixed(1)} MB, ${kb(total)} KB per call over ${calls} calls`);
for (const [title, m] of [['by file', byFile], ['by function', byFn], ['by nearest frame of ours', byChain]]) {
  console.log(`\n${title}:`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, 18)) console.log(`  ${kb(v).padStart(6)} KB  ${k}`);
}
