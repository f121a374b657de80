import { loadEnv, runService } from '@toolplane/config';
import { createEdgeApp } from './app.ts';
import { EdgeEnv } from './env.ts';

runService(createEdgeApp(loadEnv(EdgeEnv)));
