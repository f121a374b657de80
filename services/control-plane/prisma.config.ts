import path from 'node:path';
import { defineConfig } from 'prisma/config';

// The Prisma CLI never downloads its native schema engine here: every command that wants the
// binary gets prisma/schema-engine-shim.cjs, a stand-in backed by @prisma/schema-engine-wasm
// (see docs/adr/0003-offline-migrations.md). `prisma generate` needs no database.
process.env.PRISMA_SCHEMA_ENGINE_BINARY ??= path.join(import.meta.dirname, 'prisma', 'schema-engine-shim.cjs');
process.env.CHECKPOINT_DISABLE ??= '1';
process.env.PRISMA_HIDE_UPDATE_MESSAGE ??= '1';

/** Read by the Prisma CLI. @public */
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: {
    // Read by `prisma migrate …` / `prisma db …` only (development); services get DATABASE_URL from their env.
    url: process.env.DATABASE_URL ?? 'postgresql://postgres:postgres@127.0.0.1:5432/toolplane',
  },
});
