import { appendFileSync, existsSync } from 'node:fs';
const on = existsSync('/tmp/tl-on');
const buf: string[] = [];
let cur = '';
const pend = new Map<string, bigint>();
if (on)
  setInterval(() => {
    if (buf.length) appendFileSync(`/tmp/tl1/tl-${process.pid}.txt`, buf.splice(0).join(''));
  }, 1000).unref();
export const tlMark = (id: string, stage: string) => {
  if (!on) return;
  cur = id;
  for (const [s, t] of pend) buf.push(`${id} ${s} ${t}\n`);
  pend.clear();
  buf.push(`${id} ${stage} ${process.hrtime.bigint()}\n`);
};
export const tlPend = (stage: string) => {
  if (on) pend.set(stage, process.hrtime.bigint());
};
export const tlCur = (stage: string) => {
  if (on) {
    if (stage === 'E0') pend.set('E0', process.hrtime.bigint());
    else buf.push(`${cur} ${stage} ${process.hrtime.bigint()}\n`);
  }
};
