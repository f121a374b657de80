import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
const s = new Session();
s.connect();
setTimeout(async () => {
  await s.post('HeapProfiler.startSampling', { samplingInterval: 2048, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  const t0 = Date.now();
  setTimeout(async () => {
    const { profile } = await s.post('HeapProfiler.stopSampling');
    writeFileSync(`/tmp/hs/heap-${process.pid}-${Date.now() - t0}.heapprofile`, JSON.stringify(profile));
  }, 8000).unref();
}, 19000).unref();
