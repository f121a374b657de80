// Starts the real services the tests need, once per run: a private redis-server and an embedded
// PostgreSQL. Under CI=true a missing service fails the run; nothing is ever skipped silently.
// TEST_REDIS_URL / TEST_DATABASE_URL, when already set, point the tests at existing servers instead.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedPostgres, startRedisServer } from '../../packages/embedded/src/index.ts';

export default async function globalSetup() {
  const handles = [];
  if (!process.env.TEST_REDIS_URL) {
    try {
      const redis = await startRedisServer();
      handles.push(redis);
      process.env.TEST_REDIS_URL = redis.url;
    } catch (err) {
      throw new Error(`tests need Redis: ${err.message}. Run the test command (scripts/test.sh) which installs redis-server, or set TEST_REDIS_URL.`);
    }
  }
  if (!process.env.TEST_DATABASE_URL) {
    const dataDir = join(mkdtempSync(join(tmpdir(), 'toolplane-test-pg-')), 'data');
    const pg = await startEmbeddedPostgres({ dataDir });
    handles.push(pg);
    await pg.createDatabase('toolplane_test');
    process.env.TEST_DATABASE_URL = pg.url('toolplane_test');
    process.env.TEST_POSTGRES_ADMIN_URL = pg.url('postgres');
  }
  globalThis.__toolplaneHandles = handles;
}
