import type { Queue } from 'bullmq';
import { Command, type Cluster, type Redis } from 'ioredis';

/** The options every request/reply job is added with (`RequestReplyClient`): one attempt, removed once finished. */
export const requestJobOptions = { attempts: 1, removeOnComplete: true, removeOnFail: true } as const;

/** ioredis's compiled Lua script (`defineCommand`): what BullMQ's `addStandardJob:<version>` command runs. */
interface DefinedScript {
  numberOfKeys: number | null;
  /** The script's SHA-1 (hex), what `EVALSHA` names. */
  sha: string;
  execute(container: Redis | Cluster, args: (string | Buffer | number)[], options: object): Promise<unknown>;
}

// The MessagePack BullMQ's Packr (`useRecords: false`, `encodeUndefinedAsNil: true`) writes for these values.
const nil = 0xc0;
const float64 = 0xcb;
const map16 = 0xde;

function strHeader(bytes: number): Buffer {
  if (bytes < 32) return Buffer.of(0xa0 | bytes);
  if (bytes < 0x100) return Buffer.of(0xd9, bytes);
  if (bytes < 0x10000) return Buffer.of(0xda, bytes >> 8, bytes & 0xff);
  const b = Buffer.alloc(5);
  b[0] = 0xdb;
  b.writeUInt32BE(bytes, 1);
  return b;
}

function str(s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8');
  return Buffer.concat([strHeader(bytes.length), bytes]);
}

/** Writes a MessagePack string at `at`; answers the offset after it. */
function writeStr(buf: Buffer, at: number, s: string, bytes: number): number {
  const header = strHeader(bytes);
  header.copy(buf, at);
  return at + header.length + buf.write(s, at + header.length, 'utf8');
}

const crlf = Buffer.from('\r\n');

/** A RESP bulk string's header (`$<bytes>\r\n`). */
function bulkHeader(bytes: number): string {
  return `$${bytes}\r\n`;
}

/** A RESP bulk string of a constant value, whole. */
function bulk(value: string): Buffer {
  return Buffer.from(`${bulkHeader(Buffer.byteLength(value))}${value}\r\n`);
}

/**
 * One `EVALSHA` of the add script in RESP, as ioredis would write it for the same arguments (`Command.toWritable`):
 * the head (command, SHA, key count, the nine keys) built once per connection's script, then the three arguments.
 */
export function evalshaCommand(head: Buffer, packedArgs: Buffer, json: string, packedOpts: Buffer): Buffer {
  const jsonBytes = Buffer.byteLength(json, 'utf8');
  const argsHeader = bulkHeader(packedArgs.length);
  const jsonHeader = bulkHeader(jsonBytes);
  const optsHeader = bulkHeader(packedOpts.length);
  const size = head.length + argsHeader.length + jsonHeader.length + optsHeader.length + packedArgs.length + jsonBytes;
  const buf = Buffer.allocUnsafe(size + packedOpts.length + 6);
  let at = head.copy(buf, 0);
  at += buf.write(argsHeader, at, 'latin1');
  at += packedArgs.copy(buf, at);
  at += crlf.copy(buf, at);
  at += buf.write(jsonHeader, at, 'latin1');
  at += buf.write(json, at, 'utf8');
  at += crlf.copy(buf, at);
  at += buf.write(optsHeader, at, 'latin1');
  at += packedOpts.copy(buf, at);
  crlf.copy(buf, at);
  return buf;
}

/** The add's three arguments: the packed job fields, the data's JSON, the packed options. */
type Packed = readonly [Buffer, string, Buffer];

/** `EVALSHA <sha> <number of keys> <keys…>` in RESP, with the array's length for three arguments after the keys. */
export function evalshaHead(sha: string, keys: readonly string[]): Buffer {
  const parts = [Buffer.from(`*${3 + keys.length + 3}\r\n`), bulk('evalsha'), bulk(sha), bulk(String(keys.length))];
  return Buffer.concat([...parts, ...keys.map(bulk)]);
}

/** A job id BullMQ's `Queue.add` takes as it is (`addJob`, `validateOptions`); any other goes through `Queue.add`. */
function plainJobId(id: string): boolean {
  return id !== '' && !id.includes(':') && `${parseInt(id, 10)}` !== id;
}

/**
 * Adds request/reply jobs to one BullMQ queue as `Queue.add(name, data, { jobId, ...requestJobOptions })` does, without
 * its per-call work (cost cut 2): no `Job` object, no option validation or encoding, no telemetry wrapper. The
 * same Lua script (BullMQ's `addStandardJob`, as ioredis defined it on the queue's connection: the same SHA, `EVALSHA`
 * with `EVAL` after a `NOSCRIPT`), the same keys, and arguments that decode to the same values: the job id, its name
 * and timestamp, the JSON of the data, the options (constant but for the job id) encoded once per process. So the
 * job's hash, the wait list, the marker, the id counter, the events and the duplicate-id answer are BullMQ's own
 * (`job-adder.test.ts` compares them with `Queue.add`'s). A job id BullMQ would refuse or treat otherwise, or a
 * connection without the script, goes through `Queue.add`.
 */
export class JobAdder {
  private script: DefinedScript | undefined;
  private ready: Promise<DefinedScript | undefined> | undefined;
  private readonly keys: string[];
  private readonly argsHead: Buffer;
  private readonly argsName: Buffer;
  private readonly optsHead: Buffer;
  private readonly optsTail: Buffer;
  /** The `EVALSHA`'s constant head (`evalshaHead`), when adds are written whole (not on a Cluster, no key prefix). */
  private head: Buffer | undefined;

  private readonly queue: Queue;
  private readonly redis: Redis | Cluster;
  private readonly name: string;

  constructor(queue: Queue, redis: Redis | Cluster, name: string) {
    this.queue = queue;
    this.redis = redis;
    this.name = name;
    const k = queue.keys;
    const names = ['wait', 'paused', 'meta', 'id', 'completed', 'delayed', 'active', 'events', 'marker'] as const;
    // The nine keys of `addStandardJob` in BullMQ's order (`addStandardJobArgs`).
    this.keys = names.map((n) => k[n]!);
    // [prefix key, job id, name, timestamp, parentKey, parent dependencies key, parent, repeat key, dedupe key, defer]
    this.argsHead = Buffer.concat([Buffer.of(0x9a), str(k['']!)]);
    this.argsName = str(this.name);
    // The options as BullMQ's `Job` orders them: `attempts` first, then the call's (`jobId` first), then the rest.
    this.optsHead = Buffer.concat([Buffer.of(map16, 0, 4), str('attempts'), Buffer.of(1), str('jobId')]);
    this.optsTail = Buffer.concat([str('removeOnComplete'), Buffer.of(0xc3), str('removeOnFail'), Buffer.of(0xc3)]);
  }

  /** Whether adds go straight to the script (false until the queue's connection is ready, or if it lacks it). */
  get direct(): boolean {
    return this.script !== undefined;
  }

  /** Adds a job of this adder's name (`jobId` its id; a job with that id already there is left as it is, as BullMQ does). */
  async add(data: object, jobId: string): Promise<void> {
    const script = this.script ?? (await (this.ready ??= this.load().finally(() => (this.ready = undefined))));
    if (!script || !plainJobId(jobId)) {
      await this.queue.add(this.name, data, { jobId, ...requestJobOptions });
      return;
    }
    const idBytes = Buffer.byteLength(jobId, 'utf8');
    const packed = [this.packArgs(jobId, idBytes), JSON.stringify(data), this.packOpts(jobId, idBytes)] as const;
    const result = this.head
      ? await this.send(script, packed)
      : await script.execute(this.redis, this.argsOf(packed), {});
    // Negative answers are BullMQ's errors (a missing parent): none can happen without a parent, but never ignored.
    if (typeof result === 'number' && result < 0) throw new Error(`addStandardJob answered ${result}`);
  }

  /**
   * The `EVALSHA` written as one buffer (`evalshaCommand`), through the connection's command queue (`sendCommand`: the
   * same reply handling, offline queue and resend after a reconnect as ioredis's script). When Redis lost its scripts
   * (`NOSCRIPT`: the script did not run, nothing was added), ioredis's script adds it (`EVAL` on that answer).
   */
  private async send(script: DefinedScript, packed: Packed): Promise<unknown> {
    const bytes = evalshaCommand(this.head!, ...packed);
    const command = new Command('evalsha', [script.sha, this.keys.length, ...this.keys, ...packed], {});
    command.toWritable = () => bytes;
    try {
      return await (this.redis as Redis).sendCommand(command);
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('NOSCRIPT')) throw err;
      return script.execute(this.redis, this.argsOf(packed), {});
    }
  }

  private argsOf(packed: Packed): (string | Buffer)[] {
    return [...this.keys, ...packed];
  }

  private async load(): Promise<DefinedScript | undefined> {
    await this.queue.waitUntilReady();
    // As `Queue.getVersion` does: the queue's meta (the event stream's length, ADR 0032) written before the first add.
    await (this.queue as unknown as { queueMetaInitialized?: Promise<unknown> }).queueMetaInitialized;
    const set = (this.redis as unknown as { scriptsSet?: Record<string, DefinedScript> }).scriptsSet ?? {};
    const names = Object.keys(set).filter((n) => n.startsWith('addStandardJob:'));
    const script = names.length === 1 ? set[names[0]!] : undefined;
    if (script?.numberOfKeys === this.keys.length && typeof script.execute === 'function') this.script = script;
    // One write per add, built here (a Cluster routes by slot: ioredis's script; BullMQ refuses ioredis key prefixes).
    if (this.script && !this.redis.isCluster && /^[0-9a-f]{40}$/.test(this.script.sha))
      this.head = evalshaHead(this.script.sha, this.keys);
    return this.script;
  }

  private packArgs(jobId: string, idBytes: number): Buffer {
    const { argsHead, argsName } = this;
    const buf = Buffer.allocUnsafe(argsHead.length + 5 + idBytes + argsName.length + 9 + 6);
    argsHead.copy(buf, 0);
    let at = writeStr(buf, argsHead.length, jobId, idBytes);
    at += argsName.copy(buf, at);
    buf[at] = float64;
    buf.writeDoubleBE(Date.now(), at + 1);
    buf.fill(nil, at + 9, at + 15);
    return buf.subarray(0, at + 15);
  }

  private packOpts(jobId: string, idBytes: number): Buffer {
    const { optsHead, optsTail } = this;
    const buf = Buffer.allocUnsafe(optsHead.length + 5 + idBytes + optsTail.length);
    optsHead.copy(buf, 0);
    const at = writeStr(buf, optsHead.length, jobId, idBytes);
    return buf.subarray(0, at + optsTail.copy(buf, at));
  }
}
