import { loadEnv } from '@toolplane/config';
import { createWorkerApp } from './app.ts';
import { WorkerEnv } from './env.ts';

const app = createWorkerApp(loadEnv(WorkerEnv));
app.start().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void app.stop().then(() => process.exit(0));
  });
}
