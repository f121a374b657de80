// Searches every output of a stack for secret values (the canary rule of tests/e2e/security/secret-canary.test.ts):
// every log line of the services, every span they exported (an OTLP/HTTP receiver of the test), every
// command sent to Redis while the test ran (job payloads, results, pub/sub: MONITOR), every Redis key and
// value at the end, every PostgreSQL row (the arguments records keep sealed: opened), and whatever else the test
// collected (tool results, REST answers).
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Stack } from '@toolplane/cli';
import { startRedisServer, type RedisHandle } from '@toolplane/embedded';
import { Redis } from 'ioredis';
import pg from 'pg';
import { RecordArgumentsOpener } from '../../packages/secrets/src/index.ts';

/**
 * A `fetch` that pushes the text of every response to `into` (pass it to `createManagementClient` as `fetchImpl`),
 * so that a test can search every REST answer it got for secret values.
 */
export function recordingFetch(into: string[]): typeof fetch {
  return async (input, init) => {
    const res = await fetch(input, init);
    into.push(await res.clone().text());
    return res;
  };
}

/** A secret as it may appear: as is, base64 (Basic auth headers, echoed), percent-encoded (URLs). */
function secretForms(secret: string): string[] {
  return [secret, Buffer.from(secret).toString('base64').replace(/=+$/, ''), encodeURIComponent(secret)];
}

export interface OutputWatch {
  /** A Redis of the test's own (MONITOR sees this stack's commands only): start the stack on it. */
  redisUrl: string;
  /** OTLP/HTTP endpoint for the stack's `OTEL_EXPORTER_OTLP_ENDPOINT`. */
  otlpUrl: string;
  /** Commands Redis saw (proof the search covered traffic). */
  readonly commandsSeen: number;
  /** Commands Redis saw that contain `probe` (one of those given to `watchOutputs`), cut at 2,000 characters. */
  commandsWith(probe: string): string[];
  /** Everything the services exported (raw OTLP bodies). */
  spans(): string;
  /**
   * Stops the stack's services (flushing logs and span exports), then searches every place; `extra` adds
   * the test's own (tool results, REST answers). Returns the text of each place and where a form was found.
   */
  sweep(stack: Stack, extra?: Record<string, string>): Promise<{ places: Record<string, string>; leaks: string[] }>;
  close(): Promise<void>;
}

/**
 * Starts the receivers (Redis with MONITOR, OTLP) before the stack, so nothing it does goes unseen.
 * `probes`: text whose Redis commands are kept too (to show what did travel, e.g. a sealed field).
 */
export async function watchOutputs(secrets: string[] | (() => string[]), probes: string[] = []): Promise<OutputWatch> {
  // Secrets known only at the end (tokens a provider issues during the test): every command is kept and searched then.
  const known = typeof secrets === 'function' ? undefined : secrets.flatMap(secretForms);
  const formsNow = () => known ?? (secrets as () => string[])().flatMap(secretForms);
  const leaksIn = (text: string, forms = formsNow()) => forms.some((f) => text.includes(f));
  const commands: string[] = [];
  const exports: string[] = [];
  const receiver: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      exports.push(Buffer.concat(chunks).toString('utf8'));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const redis: RedisHandle = await startRedisServer();
  const monitorBase = new Redis(redis.url);
  const monitor = await monitorBase.monitor();
  let commandsSeen = 0;
  const commandsWithSecret: string[] = [];
  const probed = new Map<string, string[]>(probes.map((p) => [p, []]));
  monitor.on('monitor', (_time: string, args: string[]) => {
    commandsSeen++;
    const text = args.join(' ');
    if (!known) commands.push(text);
    else if (leaksIn(text, known)) commandsWithSecret.push(text.slice(0, 200));
    for (const [probe, seen] of probed) if (text.includes(probe)) seen.push(text.slice(0, 2000));
  });
  return {
    redisUrl: redis.url,
    otlpUrl: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`,
    get commandsSeen() {
      return commandsSeen;
    },
    commandsWith: (probe) => probed.get(probe) ?? [],
    spans: () => exports.join('\n'),
    async sweep(stack, extra = {}) {
      await Promise.all(
        stack.processes.map(
          (p) =>
            new Promise<void>((r) =>
              p.child.exitCode !== null ? r() : (p.child.once('exit', () => r()), p.child.kill('SIGTERM')),
            ),
        ),
      );
      const forms = formsNow();
      const places: Record<string, string> = {
        ...extra,
        spans: exports.join('\n'),
        redisCommands: known ? commandsWithSecret.join('\n') : commands.filter((c) => leaksIn(c, forms)).join('\n'),
      };
      for (const p of stack.processes) places[`log:${p.name}`] = p.output();
      places.redis = (await dumpRedis(stack)).join('\n');
      places.postgres = (await dumpPostgres(stack)).rows.join('\n');
      const leaks = Object.entries(places)
        .filter(([, text]) => leaksIn(text, forms))
        .map(([where]) => where);
      return { places, leaks };
    },
    async close() {
      monitor.disconnect();
      monitorBase.disconnect();
      await redis.stop();
      await new Promise<void>((r) => receiver.close(() => r()));
    },
  };
}

/** Every key under the stack's Redis prefix and its value (strings, hashes, lists, sets, sorted sets, streams). */
export async function dumpRedis(stack: Pick<Stack, 'redisUrl' | 'redisPrefix'>): Promise<string[]> {
  const client = new Redis(stack.redisUrl);
  const dump: string[] = [];
  try {
    for (const key of await client.keys(`${stack.redisPrefix}:*`)) {
      const type = await client.type(key);
      dump.push(key);
      if (type === 'string') dump.push((await client.get(key)) ?? '');
      else if (type === 'hash') dump.push(JSON.stringify(await client.hgetall(key)));
      else if (type === 'list') dump.push(JSON.stringify(await client.lrange(key, 0, -1)));
      else if (type === 'set') dump.push(JSON.stringify(await client.smembers(key)));
      else if (type === 'zset') dump.push(JSON.stringify(await client.zrange(key, '0', '-1')));
      else if (type === 'stream') dump.push(JSON.stringify(await client.xrange(key, '-', '+')));
    }
  } finally {
    client.disconnect();
  }
  return dump;
}

/**
 * Every row of every table of the stack's database, a JSON line per table, and the tables' names; with the stack's
 * data directory, the arguments records keep sealed for the backtest (ADR 0080) opened with the control plane's key too
 * (what a holder of that key could read), one JSON line per record.
 */
export async function dumpPostgres(
  stack: Pick<Stack, 'databaseUrl'> & { dataDir?: string },
): Promise<{ tables: string[]; rows: string[] }> {
  const db = new pg.Client({ connectionString: stack.databaseUrl });
  await db.connect();
  try {
    const tables = (
      await db.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'`,
      )
    ).rows.map((r) => r.table_name);
    const rows: string[] = [];
    for (const t of tables) rows.push(JSON.stringify((await db.query(`SELECT * FROM "${t}"`)).rows));
    const keyFile = stack.dataDir && join(stack.dataDir, 'keys', 'record-arguments.key.pem');
    if (keyFile && existsSync(keyFile) && tables.includes('execution_records')) {
      const opener = new RecordArgumentsOpener(readFileSync(keyFile, 'utf8'));
      const sealed = await db.query<{ id: string; sealed_arguments: string }>(
        'SELECT id::text, sealed_arguments FROM execution_records WHERE sealed_arguments IS NOT NULL',
      );
      for (const r of sealed.rows) rows.push(JSON.stringify(opener.open(r.sealed_arguments, r.id) ?? null));
    }
    return { tables, rows };
  } finally {
    await db.end();
  }
}
