// Starts the real services the tests need, once per run: a private redis-server and an embedded
// PostgreSQL. Under CI=true a missing service fails the run; nothing is ever skipped silently.
// TEST_REDIS_URL / TEST_DATABASE_URL, when already set, point the tests at existing servers instead.
// TEST_REDIS_FORMS=cluster,sentinel also starts a Redis Cluster and a Sentinel setup for the files run on every form
// (scripts/run-tests.ts), as TEST_REDIS_CLUSTER_NODES and TEST_REDIS_SENTINELS + TEST_REDIS_SENTINEL_MASTER.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startEmbeddedPostgres,
  startMotoServer,
  startRedisCluster,
  startRedisSentinel,
  startRedisServer,
} from '../../packages/embedded/src/index.ts';

/** The Redis Cluster and Sentinel setups TEST_REDIS_FORMS asks for (their handles join `handles`). */
async function startRedisForms(handles) {
  const forms = (process.env.TEST_REDIS_FORMS ?? '').split(',').filter(Boolean);
  if (forms.includes('cluster') && !process.env.TEST_REDIS_CLUSTER_NODES) {
    const cluster = await startRedisCluster();
    handles.push(cluster);
    process.env.TEST_REDIS_CLUSTER_NODES = cluster.seeds.join(',');
  }
  if (forms.includes('sentinel') && !process.env.TEST_REDIS_SENTINELS) {
    const sentinel = await startRedisSentinel();
    handles.push(sentinel);
    process.env.TEST_REDIS_SENTINELS = sentinel.sentinels.map((a) => `${a.host}:${a.port}`).join(',');
    process.env.TEST_REDIS_SENTINEL_MASTER = sentinel.masterName;
  }
}

export default async function globalSetup() {
  const handles = [];
  // moto_server starts in the background while Redis and PostgreSQL start (it takes a few seconds).
  const motoStarting = process.env.TEST_MOTO_URL
    ? undefined
    : startMotoServer().then(
        (moto) => ({ moto }),
        (err) => ({ err }),
      );
  if (!process.env.TEST_REDIS_URL) {
    try {
      const redis = await startRedisServer();
      handles.push(redis);
      process.env.TEST_REDIS_URL = redis.url;
    } catch (err) {
      throw new Error(
        `tests need Redis: ${err.message}. Run the test command (scripts/test.sh) which installs redis-server, or set TEST_REDIS_URL.`,
        { cause: err },
      );
    }
  }
  await startRedisForms(handles);
  if (!process.env.TEST_DATABASE_URL) {
    const root = mkdtempSync(join(tmpdir(), 'toolplane-test-pg-'));
    // Ours (mkdtemp makes it 0700): as root, PostgreSQL runs as the postgres user, which must reach the cluster in it.
    // Nothing else is opened; where that user cannot reach, the cluster goes to its own directory (postgres-runtime.ts).
    chmodSync(root, 0o755);
    // Teardown stops handles in reverse order: the cluster (hundreds of MB) is removed once stopped.
    handles.push({ stop: async () => rmSync(root, { recursive: true, force: true }) });
    const pg = await startEmbeddedPostgres({ dataDir: join(root, 'data') });
    handles.push(pg);
    await pg.createDatabase('toolplane_test');
    process.env.TEST_DATABASE_URL = pg.url('toolplane_test');
    process.env.TEST_POSTGRES_ADMIN_URL = pg.url('postgres');
  }
  // moto_server (AWS API emulator) for the AWS secrets backend tests. Under CI=true a missing one
  // fails the whole run; elsewhere those tests fail with this message (TEST_MOTO_ERROR).
  if (motoStarting) {
    const { moto, err } = await motoStarting;
    if (moto) {
      handles.push(moto);
      process.env.TEST_MOTO_URL = moto.url;
    } else {
      const message = `tests need moto_server (AWS Secrets Manager emulator): ${err.message}. Install it (pip install "moto[server]") or set TEST_MOTO_URL.`;
      if (process.env.CI === 'true') {
        for (const h of handles.reverse()) await h.stop();
        throw new Error(message);
      }
      process.env.TEST_MOTO_ERROR = message;
    }
  }
  globalThis.__toolplaneHandles = handles;
}
