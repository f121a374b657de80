#!/usr/bin/env node
// Stand-in for Prisma's native `schema-engine` binary, backed by @prisma/schema-engine-wasm.
// Point the Prisma 7 CLI at it:  PRISMA_SCHEMA_ENGINE_BINARY=/abs/path/schema-engine-shim.cjs
// (must be executable; `node` must be on PATH). Speaks the binary's interface:
//   schema-engine-shim --version
//   schema-engine-shim --datasource '{"url":...}' cli can-connect-to-database | create-database
//   schema-engine-shim [--datamodels file]... [--datasource json]   (JSON-RPC 2.0, one message per line on stdin/stdout)
'use strict';
const readline = require('node:readline');
const { Client } = require('pg');
const { openSchemaEngine, loadSchemaEngineClass } = require('../src/db/schema-engine-wasm.cjs');

// --------------------------------------------------------------------------- args
const argv = process.argv.slice(2);
const opts = { datamodels: [], datasource: null, cli: null };
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--datamodels') opts.datamodels.push(argv[++i]);
  else if (a === '--datasource') opts.datasource = JSON.parse(argv[++i]);
  else if (a === '--enabled-preview-features' || a === '--extension-types') i++;
  else if (a === '--version' || a === '-V') opts.version = true;
  else if (a === 'cli') opts.cli = argv[++i];
}

// stderr lines are parsed by the CLI as JSON logs: {"level","fields":{"message",...},"target"}
function logLine(level, message, extra = {}) {
  process.stderr.write(
    `${JSON.stringify({ timestamp: new Date().toISOString(), level, fields: { message, ...extra }, target: 'schema_engine::logger' })}\n`,
  );
}

function dbName(url) {
  return decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
}
function adminUrl(url) {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

async function canConnect(url) {
  const c = new Client({ connectionString: url });
  try {
    await c.connect();
    await c.end();
  } catch (e) {
    if (e.code === '3D000') {
      const u = new URL(url);
      throw Object.assign(
        new Error(
          `Database \`${dbName(url)}\` does not exist on the database server at \`${u.hostname}:${u.port || 5432}\`.`,
        ),
        { errorCode: 'P1003' },
      );
    }
    throw Object.assign(new Error(`Can't reach database server: ${e.message}`), { errorCode: 'P1001' });
  }
}

async function createDatabase(url) {
  const c = new Client({ connectionString: adminUrl(url) });
  await c.connect();
  try {
    await c.query(`CREATE DATABASE "${dbName(url).replace(/"/g, '""')}"`);
  } finally {
    await c.end();
  }
  return dbName(url);
}

// --------------------------------------------------------------------------- one-shot modes
async function oneShot() {
  if (opts.version) {
    const { version } = require('@prisma/schema-engine-wasm/schema_engine_bg');
    await loadSchemaEngineClass();
    process.stdout.write(`schema-engine-cli ${version()}\n`);
    return 0;
  }
  const url = opts.datasource?.url;
  try {
    if (opts.cli === 'can-connect-to-database') await canConnect(url);
    else if (opts.cli === 'create-database') {
      await createDatabase(url);
      logLine('INFO', `Database '${dbName(url)}' was successfully created.`);
    } else throw new Error(`unsupported cli command ${opts.cli}`);
    return 0;
  } catch (e) {
    // The CLI drops the first stderr line and JSON.parses every other one: no trailing newline.
    logLine('INFO', 'schema-engine-wasm shim');
    process.stderr.write(
      JSON.stringify({
        timestamp: new Date().toISOString(),
        level: 'ERROR',
        fields: { message: e.message, ...(e.errorCode ? { error_code: e.errorCode } : {}) },
        target: 'schema_engine::logger',
      }),
    );
    return 1;
  }
}

// --------------------------------------------------------------------------- JSON-RPC mode
let sePromise;
function engine() {
  // lazily: the wasm engine connects at construction, and some calls need no database at all
  if (!sePromise) {
    const url = opts.datasource?.url;
    if (!url) throw new Error('The schema engine shim needs a datasource url (prisma.config.ts datasource.url).');
    sePromise = openSchemaEngine({
      connectionString: url,
      shadowDatabaseUrl: opts.datasource?.shadowDatabaseUrl,
      schemaPath: opts.datamodels[0],
      log: (m) => process.stderr.write(`${m}\n`),
    });
  }
  return sePromise;
}

// For diffs that don't read the live database (empty / schema / migrations via a shadow DB) the
// target database need not exist (as with the native engine): run them on the server's `postgres` DB.
let scratchPromise;
async function scratchEngine() {
  const url = opts.datasource?.url;
  try {
    await canConnect(url);
    return engine();
  } catch {
    scratchPromise ??= openSchemaEngine({
      connectionString: adminUrl(url),
      shadowDatabaseUrl: opts.datasource?.shadowDatabaseUrl,
      log: (m) => process.stderr.write(`${m}\n`),
    });
    return scratchPromise;
  }
}

let outId = 1_000_000;
const pendingPrints = new Map();
function send(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}
function print(content) {
  // the native engine prints diff output through a "print" request the CLI answers
  const id = outId++;
  return new Promise((resolve) => {
    pendingPrints.set(id, resolve);
    send({ jsonrpc: '2.0', id, method: 'print', params: { content: content.replace(/\n$/, '') } });
  });
}

async function diffScript(se, from, to, filters) {
  const r = await se.call('diff', { from, to, script: true, exitCode: null, filters });
  return r.stdout ?? '';
}
/**
 * The SQL from the applied migrations to the schema: what the wasm engine cannot diff itself without a shadow
 * database on PostgreSQL (evaluateDataLoss, createMigration).
 */
async function migrationsToSchema(params) {
  return diffScript(
    await engine(),
    { tag: 'migrations', ...params.migrationsList },
    { tag: 'schemaDatamodel', files: params.schema.files },
    params.filters,
  );
}
const isEmptyScript = (s) => !s.trim() || s.trim() === '-- This is an empty migration.';

async function handle(method, params) {
  switch (method) {
    case 'getDatabaseVersion':
      return (await engine()).call('version', params);
    case 'createDatabase': {
      const url = params?.datasource?.url ?? opts.datasource?.url;
      return { databaseName: await createDatabase(url) };
    }
    case 'diff': {
      const usesLiveDb = [params.from, params.to].some((t) => t?.tag === 'schemaDatasource');
      const se = usesLiveDb ? await engine() : await scratchEngine();
      const res = await se.call('diff', params);
      if (res.stdout) await print(res.stdout);
      return { exitCode: res.exitCode, stdout: null };
    }
    case 'evaluateDataLoss': {
      // wasm evaluateDataLoss has no shadow DB on PostgreSQL: report the step count only (no data-loss warnings)
      const script = await migrationsToSchema(params);
      return { migrationSteps: isEmptyScript(script) ? 0 : 1, unexecutableSteps: [], warnings: [] };
    }
    case 'createMigration': {
      // wasm createMigration has no shadow DB on PostgreSQL: same result through diff(migrations -> schema)
      const script = await migrationsToSchema(params);
      const ts = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
      const empty = isEmptyScript(script);
      return {
        connectorType: 'postgresql',
        generatedMigrationName: `${ts}_${params.migrationName}`,
        migrationScript: empty && !params.draft ? null : empty ? '-- This is an empty migration.' : script,
        extension: 'sql',
      };
    }
    default:
      return (await engine()).call(method, params);
  }
}

function errorResponse(id, e) {
  const panic = /schema-engine-wasm panicked/.test(e?.message ?? '');
  return {
    jsonrpc: '2.0',
    id,
    error: {
      code: 4466,
      message: 'An error happened. Check the data field for details.',
      data: { is_panic: panic, message: e?.message ?? String(e), meta: e?.meta ?? null, error_code: e?.code ?? null },
    },
  };
}

async function rpc() {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  const inflight = new Set();
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    if (msg.method === undefined && pendingPrints.has(msg.id)) {
      pendingPrints.get(msg.id)();
      pendingPrints.delete(msg.id);
      return;
    }
    const p = handle(msg.method, msg.params)
      .then((result) => send({ jsonrpc: '2.0', id: msg.id, result: result ?? {} }))
      .catch((e) => send(errorResponse(msg.id, e)));
    inflight.add(p);
    p.finally(() => inflight.delete(p));
  });
  await new Promise((r) => rl.on('close', r));
  await Promise.allSettled([...inflight]);
  for (const p of [sePromise, scratchPromise]) if (p) await (await p.catch(() => null))?.close();
  return 0;
}

(opts.version || opts.cli ? oneShot() : rpc()).then(
  (code) => process.exit(code),
  (e) => {
    logLine('ERROR', e?.stack ?? String(e));
    process.exit(1);
  },
);
