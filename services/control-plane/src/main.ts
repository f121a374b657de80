import { guardProcess, loadEnv, runService } from '@toolplane/config';
import { createLogger } from '@toolplane/logger';
import { startTelemetry, telemetryOptionsFromEnv, withTelemetry } from '@toolplane/telemetry';
import { createControlPlaneApp } from './app.ts';
import { ControlPlaneEnvChecked } from './env.ts';

const env = loadEnv(ControlPlaneEnvChecked);
guardProcess(createLogger({ service: 'control-plane', level: env.LOG_LEVEL }));
// OpenTelemetry before the app: its logger and spans depend on it (off unless configured).
const telemetry = startTelemetry(telemetryOptionsFromEnv('toolplane-control-plane', env));
runService(withTelemetry(createControlPlaneApp(env), telemetry));
