import { fileURLToPath } from 'node:url';
import type { Logger } from '@toolplane/logger';
import engine from './schema-engine-wasm.cjs';

export const migrationsDir = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));
export const schemaPath = fileURLToPath(new URL('../../prisma/schema.prisma', import.meta.url));

/**
 * Applies pending SQL migrations from prisma/migrations exactly as `prisma migrate deploy` does
 * (same `_prisma_migrations` bookkeeping, advisory lock, failure handling), through Prisma's schema
 * engine compiled to WebAssembly: no engine binary is downloaded or needed. Returns applied names.
 */
export async function migrate(databaseUrl: string, log?: Logger): Promise<string[]> {
  return (await engine.migrateDeploy({
    connectionString: databaseUrl,
    migrationsDir,
    log: (m: string) => log?.debug({ engine: m }, 'schema engine'),
  })) as string[];
}
