import { loadEnv, runService } from '@toolplane/config';
import { startTelemetry, telemetryOptionsFromEnv, withTelemetry } from '@toolplane/telemetry';
import { createEdgeApp } from './app.ts';
import { EdgeEnvChecked } from './env.ts';

const env = loadEnv(EdgeEnvChecked);
// OpenTelemetry before the app: its logger and spans depend on it (off unless configured).
const telemetry = startTelemetry(telemetryOptionsFromEnv('toolplane-edge', env));
runService(withTelemetry(createEdgeApp(env), telemetry));
