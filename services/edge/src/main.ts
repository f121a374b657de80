import { loadEnv } from '@toolplane/config';
import { createEdgeApp } from './app.ts';
import { EdgeEnv } from './env.ts';

const app = createEdgeApp(loadEnv(EdgeEnv));
app.start().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void app.stop().then(() => process.exit(0));
  });
}
