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
