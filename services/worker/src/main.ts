import { guardProcess, loadEnv, runService } from '@toolplane/config';
import { createLogger } from '@toolplane/logger';
import { startTelemetry, telemetryOptionsFromEnv, withTelemetry } from '@toolplane/telemetry';
import { createWorkerApp } from './app.ts';
import { WorkerEnvChecked } from './env.ts';

const env = loadEnv(WorkerEnvChecked);
guardProcess(createLogger({ service: 'worker', level: env.LOG_LEVEL }));
// OpenTelemetry before the app: its logger and spans depend on it (off unless configured).
const telemetry = startTelemetry(telemetryOptionsFromEnv('toolplane-worker', env));
runService(withTelemetry(createWorkerApp(env), telemetry));
