import { loadEnv, runService } from '@toolplane/config';
import { createControlPlaneApp } from './app.ts';
import { ControlPlaneEnv } from './env.ts';

runService(createControlPlaneApp(loadEnv(ControlPlaneEnv)));
