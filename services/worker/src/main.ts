import { loadEnv, runService } from '@toolplane/config';
import { createWorkerApp } from './app.ts';
import { WorkerEnv } from './env.ts';

runService(createWorkerApp(loadEnv(WorkerEnv)));
