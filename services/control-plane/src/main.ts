import { loadEnv } from '@toolplane/config';
import { createControlPlaneApp } from './app.ts';
import { ControlPlaneEnv } from './env.ts';

const app = createControlPlaneApp(loadEnv(ControlPlaneEnv));
app.start().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) {
  process.once(sig, () => {
    void app.stop().then(() => process.exit(0));
  });
}
