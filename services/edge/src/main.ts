import { guardProcess, loadEnv, runService } from '@toolplane/config';
import { createLogger } from '@toolplane/logger';
import { startTelemetry, telemetryOptionsFromEnv, withTelemetry } from '@toolplane/telemetry';
import { createEdgeApp } from './app.ts';
import { EdgeEnvChecked } from './env.ts';

const env = loadEnv(EdgeEnvChecked);
guardProcess(createLogger({ service: 'edge', level: env.LOG_LEVEL }));
// OpenTelemetry before the app: its logger and spans depend on it (off unless configured).
const telemetry = startTelemetry(telemetryOptionsFromEnv('toolplane-edge', env));
runService(withTelemetry(createEdgeApp(env), telemetry));
// Diagnostics: started with --expose-gc (NODE_OPTIONS), SIGUSR2 runs a full garbage collection and
// prints the memory in use, so memory measurements (tests/e2e/deploy-and-scale/edge-memory.test.ts) compare live
// data, not collector timing.
const gc = (globalThis as { gc?: (opts: object) => void }).gc;
if (gc)
  process.on('SIGUSR2', () => {
    // 'last-resort': collects everything and gives free heap pages back to the system at once.
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' });
    process.stdout.write(JSON.stringify({ level: 'info', msg: 'gc', memory: process.memoryUsage() }) + '\n');
  });
