// docs/configuration.md is generated from the services' zod schemas (scripts/gen-config-docs.ts):
// it must be current, and list every variable the code reads.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { collectEnvVars, configurationDocPath, renderConfigurationDoc, typeOf } from '../../scripts/gen-config-docs.ts';
import { ControlPlaneEnv } from '../../services/control-plane/src/env.ts';
import { EdgeEnv } from '../../services/edge/src/env.ts';
import { WorkerEnv } from '../../services/worker/src/env.ts';

describe('the configuration reference', () => {
  it('is current: docs/configuration.md equals what `node scripts/gen-config-docs.ts` generates', async () => {
    const current = readFileSync(configurationDocPath, 'utf8');
    const generated = await renderConfigurationDoc();
    if (current !== generated) {
      throw new Error('docs/configuration.md is stale: run `node scripts/gen-config-docs.ts` and commit the result');
    }
    expect(current).toBe(generated);
  });

  it('documents every variable of every service, with a description', async () => {
    const vars = await collectEnvVars();
    for (const [service, schema] of [
      ['edge', EdgeEnv],
      ['worker', WorkerEnv],
      ['control-plane', ControlPlaneEnv],
    ] as const) {
      expect(vars.filter((v) => v.service === service).map((v) => v.name)).toEqual(Object.keys(schema.shape));
    }
    expect(vars.filter((v) => v.description === '').map((v) => `${v.service}: ${v.name}`)).toEqual([]);
    const doc = readFileSync(configurationDocPath, 'utf8');
    for (const v of vars) expect(doc).toContain(`| \`${v.name}\` |`);
  });

  it('reads types, defaults and required-ness from the schemas', async () => {
    const vars = await collectEnvVars();
    const get = (service: string, name: string) => vars.find((v) => v.service === service && v.name === name)!;
    expect(get('edge', 'PORT')).toMatchObject({ type: 'integer 0–65535', default: '8080', required: false });
    // One of three Redis forms is required (a note under each table says which); none of their variables alone is.
    expect(get('edge', 'REDIS_URL')).toMatchObject({ type: 'string', required: false });
    expect(get('worker', 'REDIS_CONNECT_TIMEOUT_MS')).toMatchObject({ type: 'integer ≥ 100', default: '10000' });
    // Required with the embedded backend only (SECRETS_BACKEND=local, the default; checked at start).
    expect(get('worker', 'SECRETS_PRIVATE_KEY_FILE')).toMatchObject({ required: false });
    expect(get('worker', 'SECRETS_BACKEND')).toMatchObject({ type: '`local`, `aws`', default: 'local' });
    expect(get('control-plane', 'MIGRATE_ON_START')).toMatchObject({ type: '`true`, `false`', default: 'true' });
    expect(get('worker', 'WORKER_CONCURRENCY').type).toBe('integer 1–20000');
    expect(
      typeOf({
        anyOf: [
          { type: 'string', const: '' },
          { type: 'string', format: 'uri' },
        ],
      }),
    ).toBe('empty or URL');
  });
});
