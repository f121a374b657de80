import { defineConfig } from 'prisma/config';

// Used by `prisma generate` (offline: the wasm-based CLI needs no engine binary). Migrations are
// applied by src/db/migrate.ts, not by the Prisma CLI.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
});
