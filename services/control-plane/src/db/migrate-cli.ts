// `pnpm db:migrate` applies pending migrations to DATABASE_URL; `pnpm db:new-migration <name>`
// writes a new migration from the difference between prisma/migrations and schema.prisma
// (needs a PostgreSQL server for the shadow database, e.g. the one `pnpm dev` starts).
import { z } from 'zod';
import { loadEnv } from '@toolplane/config';
import engine from './schema-engine-wasm.cjs';
import { migrate, migrationsDir, schemaPath } from './migrate.ts';

const env = loadEnv(z.object({ DATABASE_URL: z.string().min(1) }));
const [command, name] = process.argv.slice(2);
if (command === 'deploy') {
  const applied = await migrate(env.DATABASE_URL);
  console.log(applied.length ? `applied: ${applied.join(', ')}` : 'no pending migrations');
} else if (command === 'new' && name) {
  const dir = (await engine.createMigration({
    connectionString: env.DATABASE_URL,
    schemaPath,
    migrationsDir,
    name,
  })) as string | null;
  console.log(dir ? `created prisma/migrations/${dir}` : 'schema.prisma and the migrations agree; nothing to do');
} else {
  console.error('usage: migrate-cli.ts deploy | new <name>');
  process.exit(2);
}
