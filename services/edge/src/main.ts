import { loadEnv, runService } from '@toolplane/config';
import { createEdgeApp } from './app.ts';
import { EdgeEnvChecked } from './env.ts';

runService(createEdgeApp(loadEnv(EdgeEnvChecked)));
