import { readFile, writeFile } from 'node:fs/promises';
import type { AuditEvent as HashedEvent } from '@toolplane/contracts';
import { AuditChainVerifier } from '@toolplane/client/audit-chain';
import type { Command } from 'commander';
import type { Api, AuditEvent } from './api.ts';
import { action, withJson } from './context.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { jsonText, table } from './output.ts';

/** `toolplane audit [list] | verify`: the workspace's audit trail (`/api/v1/audit_events`, scope `audit`). */

/** How often `--follow` asks for new events. */
const FOLLOW_INTERVAL_MS = 1_000;

type Filters = Parameters<Api['listAuditEvents']>[0];

function parseLimit(value: unknown): number {
  const n = Number(value ?? 50);
  if (!Number.isInteger(n) || n < 1 || n > 500) throw usageError('--limit must be an integer from 1 to 500');
  return n;
}

function filtersOf(opts: Record<string, unknown>): Filters {
  const text = (name: string) => (typeof opts[name] === 'string' ? (opts[name] as string) : undefined);
  return Object.fromEntries(
    Object.entries({
      actor: text('actor'),
      action: text('action'),
      resource_type: text('resourceType'),
      resource_id: text('resource'),
      outcome: text('outcome') as Filters['outcome'],
      from: text('since'),
      to: text('until'),
    }).filter(([, v]) => v !== undefined),
  );
}

/** One event on one line: when, who, what, on what, how it ended; then the changed fields' names. */
function line(e: AuditEvent): string {
  const who = e.actor.name ?? e.actor.id ?? e.actor.type;
  const what = `${e.resource.type}${e.resource.id ? ` ${e.resource.id}` : ''}`;
  const changed = e.changes ? `  [${Object.keys(e.changes).join(', ')}]` : '';
  return `${e.at}  #${e.seq}  ${who}  ${e.action}  ${what}  ${e.outcome}${changed}`;
}

/** Prints events after `seq` as they are appended, oldest first, until Ctrl-C. */
async function follow(api: Api, filters: Filters, after: number, print: (e: AuditEvent) => void): Promise<never> {
  let cursor = after;
  for (;;) {
    await new Promise((r) => setTimeout(r, FOLLOW_INTERVAL_MS));
    let page: { data: AuditEvent[]; next_cursor: string | null };
    do {
      page = await api.listAuditEvents({ ...filters, order: 'asc', limit: 500, cursor: String(cursor) });
      for (const e of page.data) {
        cursor = e.seq;
        print(e);
      }
    } while (page.next_cursor !== null);
  }
}

/**
 * The last event a verify found intact, kept by the verifier (`--checkpoint <file>`): the next verify starts after it,
 * its `hash` the link the next event must carry. Trusted as far as the file is (docs/security.md).
 */
interface Checkpoint {
  chain: string;
  seq: number;
  hash: string;
  at: string;
}

type Broken = ReturnType<AuditChainVerifier['next']>;

async function readCheckpoint(file: string | undefined): Promise<Checkpoint | undefined> {
  if (file === undefined) return undefined;
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined; // the first verify: it writes the file
    throw usageError(`cannot read ${file}: ${err.message}`);
  });
  if (text === undefined) return undefined;
  const c = JSON.parse(text) as Partial<Checkpoint>;
  if (typeof c.chain !== 'string' || typeof c.seq !== 'number' || typeof c.hash !== 'string')
    throw usageError(`${file} is not a checkpoint of \`audit verify\``);
  return c as Checkpoint;
}

/**
 * Walks the chain oldest first, from the start (`full`, or no checkpoint) or after `checkpoint`, and names its first
 * broken link: an event whose hash, link or place is wrong, or (from the start) the checkpoint's event carrying another
 * hash than the one verified then. Answers the last event verified, the next checkpoint.
 */
async function verify(
  api: Api,
  checkpoint: Checkpoint | undefined,
  full: boolean,
): Promise<{ checked: number; broken?: Broken; last?: Checkpoint }> {
  const after = full ? undefined : checkpoint;
  const verifier = new AuditChainVerifier(after);
  let last = checkpoint;
  let cursor = after ? String(after.seq) : undefined;
  do {
    const page = await api.listAuditEvents({ order: 'asc', limit: 500, ...(cursor ? { cursor } : {}) });
    for (const e of page.data) {
      if (checkpoint && e.chain !== checkpoint.chain)
        throw usageError(`the checkpoint is of another trail (${checkpoint.chain}), not of ${e.chain}`);
      if (checkpoint && e.seq === checkpoint.seq && e.hash !== checkpoint.hash) {
        const message = `it is not the event verified at the checkpoint of ${checkpoint.at}`;
        return { checked: verifier.checked, broken: { id: e.id, seq: e.seq, reason: 'hash', message } };
      }
      // The API's JSON is the hashed event (its `before`/`after` are always present, null or not).
      const broken = verifier.next(e as HashedEvent);
      if (broken) return { checked: verifier.checked, broken };
      last = { chain: e.chain, seq: e.seq, hash: e.hash, at: e.at };
    }
    cursor = page.next_cursor ?? undefined;
  } while (cursor);
  return { checked: verifier.checked, ...(last ? { last } : {}) };
}

/** `audit verify` on the API: from the checkpoint in `file` (unless `full`), which it then moves to the last event. */
async function verifyTrail(api: Api, file: string | undefined, full: boolean) {
  const checkpoint = await readCheckpoint(file);
  const { checked, broken, last } = await verify(api, checkpoint, full);
  if (!broken && file !== undefined && last) await writeFile(file, `${JSON.stringify(last)}\n`);
  return {
    checked,
    ...(broken ? { broken } : {}),
    ...(file !== undefined ? { from: full || !checkpoint ? 'start' : `after #${checkpoint.seq}` } : {}),
  };
}

/** The events of one line as a receiver kept it: an event, a HEC envelope (`{ "event": … }`) or a webhook's array. */
function eventsOfLine(value: unknown): HashedEvent[] {
  if (Array.isArray(value)) return value.flatMap(eventsOfLine);
  if (value === null || typeof value !== 'object') return [];
  const v = value as Record<string, unknown>;
  if (typeof v.hash === 'string') return [v as unknown as HashedEvent];
  return v.event !== undefined ? eventsOfLine(v.event) : [];
}

type Verified = {
  checked: number;
  duplicates: number;
  chains: number;
  broken?: ReturnType<AuditChainVerifier['next']>;
};

/**
 * Verifies an exported file (JSON lines, as a receiver got them) chain by chain, in the order received: a repeated
 * event (at-least-once delivery sends a batch again after a lost acknowledgement) is counted, not checked twice; the
 * first event of a chain may be any (an exporter started `from: now`, or after retention).
 */
async function verifyFile(file: string): Promise<Verified> {
  const text = await readFile(file, 'utf8').catch((err: Error) => {
    throw usageError(`cannot read ${file}: ${err.message}`);
  });
  const chains = new Map<string, { verifier: AuditChainVerifier; seen: Map<number, string> }>();
  let duplicates = 0;
  for (const [i, raw] of text.split('\n').entries()) {
    if (raw.trim() === '') continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new CliError(`${file}:${i + 1}: not JSON`, ExitCode.invalid, { code: 'audit.file_invalid' });
    }
    for (const e of eventsOfLine(parsed)) {
      const chain = chains.get(e.chain) ?? { verifier: new AuditChainVerifier(), seen: new Map<number, string>() };
      chains.set(e.chain, chain);
      if (chain.seen.get(e.seq) === e.hash) {
        duplicates++;
        continue;
      }
      chain.seen.set(e.seq, e.hash);
      const broken = chain.verifier.next(e);
      if (broken) return { checked: checkedOf(chains), duplicates, chains: chains.size, broken };
    }
  }
  return { checked: checkedOf(chains), duplicates, chains: chains.size };
}

const checkedOf = (chains: Map<string, { verifier: AuditChainVerifier }>) =>
  [...chains.values()].reduce((n, c) => n + c.verifier.checked, 0);

export function auditCommand(program: Command): void {
  const audit = program.command('audit').description('read and verify the workspace’s audit trail (scope "audit")');

  withJson(
    audit
      .command('list', { isDefault: true })
      .description('list audit events, newest first (every change, sign-in, refusal and confirmation)')
      .option('--actor <id-or-name>', 'only this actor (API key id or name, OAuth subject, person)')
      .option('--action <action>', 'only this action (server.update) or a resource’s actions (server.*)')
      .option('--resource-type <type>', 'only this resource type (server, secret, api_key, …)')
      .option('--resource <id>', 'only this resource id')
      .option('--outcome <outcome>', 'success, refused, failed, accepted, declined or cancelled')
      .option('--since <date>', 'at or after this ISO date-time')
      .option('--until <date>', 'before this ISO date-time')
      .option('--limit <n>', 'how many (1-500, default 50)')
      .option('--follow', 'keep printing new events as they are appended (JSON lines with --json: for a SIEM)'),
  ).action(
    action(async (ctx, _args, opts) => {
      const api = ctx.api();
      const filters = filtersOf(opts);
      const page = (await api.listAuditEvents({ ...filters, limit: parseLimit(opts.limit) })).data;
      if (!opts.follow) {
        ctx.out.result({ data: page }, () =>
          table(
            page.map((e) => ({ ...e, who: e.actor.name ?? e.actor.id ?? e.actor.type, on: e.resource.id ?? '-' })),
            ['at', 'seq', 'who', 'action', 'on', 'outcome'],
          ),
        );
        return;
      }
      const print = (e: AuditEvent) =>
        ctx.out.json ? process.stdout.write(`${jsonText(e)}\n`) : ctx.out.line(line(e));
      [...page].reverse().forEach(print);
      await follow(api, filters, page[0]?.seq ?? 0, print);
    }),
  );

  withJson(
    audit
      .command('verify')
      .description('check the hash chain of the whole trail; names the first broken link (exit code 3)')
      .option('--from-file <file>', 'verify an exported file instead (JSON lines as a receiver got them: HEC, webhook)')
      .option(
        '--checkpoint <file>',
        'verify only the events after the last one this file says was verified, then move it (made if missing)',
      )
      .option('--full', 'with --checkpoint: verify from the start, and that the checkpoint’s event is unchanged'),
  ).action(
    action(async (ctx, _args, opts) => {
      const file = typeof opts.fromFile === 'string' ? opts.fromFile : undefined;
      const checkpoint = typeof opts.checkpoint === 'string' ? opts.checkpoint : undefined;
      const { checked, broken, ...more } = file
        ? await verifyFile(file)
        : await verifyTrail(ctx.api(), checkpoint, opts.full === true);
      if (broken)
        throw new CliError(
          `the audit trail is broken at event #${broken.seq} (${broken.id}): ${broken.message}`,
          ExitCode.invalid,
          {
            code: `audit.broken_${broken.reason}`,
            issues: [{ path: `/events/${broken.seq}`, message: broken.message }],
          },
        );
      ctx.out.result({ checked, intact: true, ...more }, () => [
        `${checked} events verified: the chain is intact` +
          ('duplicates' in more && (more.duplicates as number) > 0
            ? ` (${more.duplicates as number} received twice)`
            : ''),
      ]);
    }),
  );
}
