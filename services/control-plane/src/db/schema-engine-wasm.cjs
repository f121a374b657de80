// Prisma migrations without the native schema-engine binary (Prisma 7.10, PostgreSQL).
// Drives @prisma/schema-engine-wasm (the Rust schema engine compiled to wasm) through a
// migration-aware driver-adapter factory built on @prisma/adapter-pg. CommonJS; Node >= 22.12.
//
//   migrateDeploy   ~ prisma migrate deploy          (engine applyMigrations: same _prisma_migrations bookkeeping)
//   migrateStatus   ~ prisma migrate status           (engine diagnoseMigrationHistory)
//   migrateDiff     ~ prisma migrate diff --script    (from/to: empty | schema | migrations (shadow DB) | live DB)
//   createMigration ~ prisma migrate dev --create-only (diff migrations -> schema, written to a new folder)
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto'); // eslint-disable-line no-redeclare -- the module, not the Web Crypto global
const pg = require('pg');
const { PrismaPg } = require('@prisma/adapter-pg');
const { bindMigrationAwareSqlAdapterFactory, ColumnTypeEnum } = require('@prisma/driver-adapter-utils');

// ---------------------------------------------------------------------------------------------
// 1. Work-arounds for @prisma/adapter-pg 7.10.1 when used by the schema engine
// ---------------------------------------------------------------------------------------------

// (a) adapter-pg has no mapping for PostgreSQL's internal "char" type (OID 18) and throws
//     "Unsupported column type char"; the engine's schema describer reads such columns from
//     pg_catalog (relkind, contype, ...) and expects them as ColumnType Character. So every command
//     that *describes* a database (diff from a live DB / from migrations via a shadow DB, drift
//     checks) fails without this. Re-implement the type mapping for those columns only.
function patchCharColumns(queryable) {
  const origQueryRaw = Object.getPrototypeOf(queryable).queryRaw; // PgQueryable.prototype.queryRaw
  queryable.queryRaw = async (query) => {
    const charCols = [];
    // per-call shim so concurrent queries cannot mix up their column lists
    const shim = Object.create(queryable, {
      performIO: {
        value: async (q) => {
          const res = await queryable.performIO(q);
          res.fields.forEach((f, i) => {
            if (f.dataTypeID === 18) {
              charCols.push(i);
              f.dataTypeID = 25; // let the adapter treat it as text...
            }
          });
          return res;
        },
      },
    });
    const out = await origQueryRaw.call(shim, query);
    for (const i of charCols) out.columnTypes[i] = ColumnTypeEnum.Character; // ...but report "char"
    return out;
  };
  return queryable;
}

// (b) PrismaPgAdapter.executeScript() does script.split(';') and runs the pieces one by one on
//     the pool: breaks on ';' inside strings/comments/$$ bodies and is not atomic. The native
//     engine sends the whole migration as ONE simple-protocol query (PostgreSQL runs a
//     multi-statement simple query in one implicit transaction). Do the same.
function fixAdapter(adapter) {
  patchCharColumns(adapter);
  const startTransaction = adapter.startTransaction.bind(adapter);
  adapter.startTransaction = async (...args) => patchCharColumns(await startTransaction(...args));
  adapter.executeScript = async (script) => {
    try {
      await adapter.underlyingDriver().query(script); // no params => simple query protocol
    } catch (e) {
      adapter.onError(e); // throws DriverAdapterError (same mapping as the adapter's own queries)
    }
  };
  return adapter;
}

// (c) PrismaPg.connectToShadowDb(): with a connectionString config, pg lets the URL's database
//     win over `database`, so the "shadow" pool is the MAIN database (migrations replayed into
//     it!); and its dispose runs DROP DATABASE before closing the shadow pool (fails: "being
//     accessed by other users"). So: discrete config fields, and our own shadow-DB lifecycle.
function toPgConfig(connectionString) {
  const u = new URL(connectionString);
  const cfg = {
    host: decodeURIComponent(u.hostname),
    port: u.port ? Number(u.port) : 5432,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')),
  };
  return cfg;
}

async function adminQuery(cfg, sql) {
  const c = new pg.Client({ ...cfg, database: 'postgres' });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** SqlMigrationAwareDriverAdapterFactory for the wasm schema engine. */
class PgMigrateAdapterFactory {
  constructor(connectionString, { shadowDatabaseUrl } = {}) {
    this.provider = 'postgres';
    this.adapterName = '@prisma/adapter-pg';
    this.cfg = toPgConfig(connectionString);
    this.shadowCfg = shadowDatabaseUrl ? toPgConfig(shadowDatabaseUrl) : null;
    this.open = new Set(); // main connections: the engine never disposes them, we do in close()
  }
  async connect() {
    const adapter = fixAdapter(await new PrismaPg(this.cfg, { onPoolError: () => {} }).connect());
    this.open.add(adapter);
    return adapter;
  }
  async close() {
    await Promise.allSettled([...this.open].map((a) => a.dispose()));
    this.open.clear();
  }
  async connectToShadowDb() {
    if (this.shadowCfg) {
      // like shadowDatabaseUrl: an existing, disposable database (the engine resets it itself)
      return fixAdapter(await new PrismaPg(this.shadowCfg, { onPoolError: () => {} }).connect());
    }
    // like the native engine: a temporary database on the same server (role needs CREATEDB)
    const name = `prisma_migrate_shadow_db_${crypto.randomUUID()}`;
    await adminQuery(this.cfg, `CREATE DATABASE "${name}"`);
    const adapter = fixAdapter(
      await new PrismaPg({ ...this.cfg, database: name }, { onPoolError: () => {} }).connect(),
    );
    const dispose = adapter.dispose.bind(adapter);
    adapter.dispose = async () => {
      await dispose(); // closes the shadow pool first
      await adminQuery(this.cfg, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    };
    return adapter;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Loading the wasm engine
// ---------------------------------------------------------------------------------------------
let enginePromise; // wasm-bindgen keeps global state: instantiate once per process

function loadSchemaEngineClass() {
  if (!enginePromise) {
    enginePromise = (async () => {
      // The wasm reports Rust panics through this global just before trapping.
      if (!globalThis.PRISMA_WASM_PANIC_REGISTRY) {
        globalThis.PRISMA_WASM_PANIC_REGISTRY = {
          message: '',
          set_message(m) {
            this.message = `RuntimeError: ${m}`;
          },
          get() {
            return this.message;
          },
        };
      }
      // `schema_engine.js` does `import * as wasm from "./schema_engine_bg.wasm"` (wasm-bindgen
      // --target bundler). Instantiate the wasm ourselves, as @prisma/internals does.
      const runtime = require('@prisma/schema-engine-wasm/schema_engine_bg'); // ESM via require(esm)
      const dir = path.dirname(require.resolve('@prisma/schema-engine-wasm/schema_engine_bg'));
      const wasmModule = new WebAssembly.Module(fs.readFileSync(path.join(dir, 'schema_engine_bg.wasm')));
      // The engine arms setTimeout()s (e.g. the 10 s advisory-lock timeout) and never clears them;
      // unref them so they don't keep the process alive ~10 s after the work is done.
      const imports = { ...runtime };
      for (const k of Object.keys(runtime)) {
        if (k.startsWith('__wbg_setTimeout_')) {
          imports[k] = (...a) => {
            const t = runtime[k](...a);
            t?.unref?.();
            return t;
          };
        }
      }
      const instance = new WebAssembly.Instance(wasmModule, { './schema_engine_bg.js': imports });
      runtime.__wbg_set_wasm(instance.exports);
      instance.exports.__wbindgen_start();
      return runtime.SchemaEngine;
    })();
  }
  return enginePromise;
}

// ---------------------------------------------------------------------------------------------
// 3. Engine inputs
// ---------------------------------------------------------------------------------------------

/** Same shape and order as the CLI's listMigrations(): every sub-directory, its migration.sql. */
function listMigrations(migrationsDir, shadowDbInitScript = '') {
  const baseDir = path.resolve(migrationsDir);
  const lockPath = path.join(baseDir, 'migration_lock.toml');
  const lockfile = {
    path: 'migration_lock.toml',
    content: fs.existsSync(lockPath) ? fs.readFileSync(lockPath, 'utf8') : null,
  };
  const entries = fs.existsSync(baseDir) ? fs.readdirSync(baseDir, { withFileTypes: true }) : [];
  const migrationDirectories = entries
    .filter((e) => e.isDirectory())
    .map((e) => {
      let content;
      try {
        content = { tag: 'ok', value: fs.readFileSync(path.join(baseDir, e.name, 'migration.sql'), 'utf8') };
      } catch (err) {
        content = { tag: 'error', value: err.message };
      }
      return { path: e.name, migrationFile: { path: 'migration.sql', content } };
    })
    .sort((a, b) => a.path.localeCompare(b.path));
  return { baseDir, lockfile, shadowDbInitScript, migrationDirectories };
}

function schemaFiles(schemaPath) {
  return [{ path: path.resolve(schemaPath), content: fs.readFileSync(schemaPath, 'utf8') }];
}

const NO_FILTER = { externalTables: [], externalEnums: [] };

function toError(_factory, e) {
  if (e instanceof WebAssembly.RuntimeError && globalThis.PRISMA_WASM_PANIC_REGISTRY?.message) {
    // After a panic this wasm instance must not be used again (the CLI exits too).
    return new Error(`schema-engine-wasm panicked: ${globalThis.PRISMA_WASM_PANIC_REGISTRY.message}`);
  }
  if (e && typeof e === 'object' && 'code' in e && e.message) {
    const err = new Error(`${e.code}: ${e.message}`); // user-facing engine errors (P3xxx, ...)
    err.code = e.code;
    err.meta = e.meta;
    return err;
  }
  return e;
}

/**
 * Open a wasm schema engine on `connectionString` (the database must exist; the engine can't
 * create it through an adapter). schemaPath is optional (namespaces for multiSchema).
 */
async function openSchemaEngine({ connectionString, shadowDatabaseUrl, schemaPath, log = () => {} }) {
  const SchemaEngine = await loadSchemaEngineClass();
  const rawFactory = new PgMigrateAdapterFactory(connectionString, { shadowDatabaseUrl });
  const factory = bindMigrationAwareSqlAdapterFactory(rawFactory);
  const datamodels = schemaPath ? [[path.resolve(schemaPath), fs.readFileSync(schemaPath, 'utf8')]] : undefined;
  let engine;
  try {
    engine = await SchemaEngine.new({ datamodels }, (msg) => log(msg), factory);
  } catch (e) {
    await rawFactory.close();
    throw toError(factory, e);
  }
  return {
    engine,
    async call(method, input) {
      try {
        return await engine[method](input); // keep the method call on `engine` (wasm binding)
      } catch (e) {
        throw toError(factory, e);
      }
    },
    // engine.free() does not dispose the adapter the engine connected at construction: close
    // its pool ourselves, or the process lingers until pg's idle timeout (10 s).
    async close() {
      engine.free();
      await rawFactory.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 4. Commands
// ---------------------------------------------------------------------------------------------

/** `prisma migrate deploy`. Returns the names of newly applied migrations. */
async function migrateDeploy({ connectionString, migrationsDir, log }) {
  const se = await openSchemaEngine({ connectionString, log });
  try {
    const { appliedMigrationNames } = await se.call('applyMigrations', {
      migrationsList: listMigrations(migrationsDir),
      filters: NO_FILTER,
    });
    return appliedMigrationNames;
  } finally {
    await se.close();
  }
}

/** `prisma migrate status` (engine part). */
async function migrateStatus({ connectionString, migrationsDir, log }) {
  const se = await openSchemaEngine({ connectionString, log });
  try {
    return await se.call('diagnoseMigrationHistory', {
      migrationsList: listMigrations(migrationsDir),
      optInToShadowDatabase: false,
      filters: NO_FILTER,
    });
  } finally {
    await se.close();
  }
}

/**
 * `prisma migrate diff --script`. from/to: { empty: true } | { schema: 'prisma/schema.prisma' }
 * | { migrations: 'prisma/migrations' } (replayed into a temporary shadow DB; role needs CREATEDB,
 * or pass shadowDatabaseUrl) | { live: 'prisma/schema.prisma' } (the live database at connectionString,
 * like --from-config-datasource; `url` targets are rejected by the Prisma 7 engine).
 * Even an empty->schema diff needs a connection: the engine is always built on an adapter.
 */
async function migrateDiff({ connectionString, shadowDatabaseUrl, from, to, log }) {
  const se = await openSchemaEngine({ connectionString, shadowDatabaseUrl, log });
  const target = (t) => {
    if (t.empty) return { tag: 'empty' };
    if (t.schema) return { tag: 'schemaDatamodel', files: schemaFiles(t.schema) };
    if (t.migrations) return { tag: 'migrations', ...listMigrations(t.migrations) };
    // live database (--from-config-datasource): the engine's own connection, i.e. connectionString
    if (t.live)
      return { tag: 'schemaDatasource', files: schemaFiles(t.live), configDir: path.dirname(path.resolve(t.live)) };
    throw new Error(`bad diff target ${JSON.stringify(t)}`);
  };
  try {
    const res = await se.call('diff', {
      from: target(from),
      to: target(to),
      script: true,
      exitCode: null,
      filters: NO_FILTER,
    });
    return res.stdout ?? '';
  } finally {
    await se.close();
  }
}

const LOCKFILE =
  '# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n';

/**
 * `prisma migrate dev --create-only --name <name>`: writes <migrationsDir>/<yyyyMMddHHmmss>_<name>/migration.sql
 * with the SQL that takes the existing migrations to the schema; null if nothing changed.
 * Uses `diff` (migrations -> schema): the wasm engine's own createMigration cannot get a shadow
 * DB on PostgreSQL ("PostgreSQL shadow DB must be provided through an external factory").
 */
async function createMigration({ connectionString, shadowDatabaseUrl, schemaPath, migrationsDir, name, log }) {
  const baseDir = path.resolve(migrationsDir);
  const lock = path.join(baseDir, 'migration_lock.toml');
  if (!fs.existsSync(lock)) {
    fs.mkdirSync(baseDir, { recursive: true }); // the engine needs the lockfile's provider to diff from migrations
    fs.writeFileSync(lock, LOCKFILE);
  }
  const script = await migrateDiff({
    connectionString,
    shadowDatabaseUrl,
    from: { migrations: baseDir },
    to: { schema: schemaPath },
    log,
  });
  if (!script.trim() || script.trim() === '-- This is an empty migration.') return null;
  const ts = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const dirName = `${ts}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  fs.mkdirSync(path.join(baseDir, dirName));
  fs.writeFileSync(path.join(baseDir, dirName, 'migration.sql'), script);
  return dirName;
}

module.exports = {
  PgMigrateAdapterFactory,
  loadSchemaEngineClass,
  listMigrations,
  openSchemaEngine,
  migrateDeploy,
  migrateStatus,
  migrateDiff,
  createMigration,
};
