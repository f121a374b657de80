import type { Redis } from 'ioredis';
import { coalesceWrites } from './coalesce-writes.ts';
import type { JobTaker, NextJobData } from './job-taker.ts';

/** What ioredis hands its `sendCommand` (the fields read here). */
interface SentCommand {
  name: string;
  promise: Promise<unknown>;
}
type SendCommand = (command: SentCommand, stream?: unknown) => unknown;

/** A take written behind one wait on the marker. */
interface Sent {
  tokens: string[];
  /** The wait (BZPOPMIN) was answered: the take's answer is the next one on the connection. */
  answered: boolean;
  result: Promise<NextJobData[] | undefined>;
}

/** A job the take fetched, with the lock token it was taken under. */
export interface TakenJob {
  data: NextJobData;
  token: string;
}

/**
 * The fetch that follows a wake-up, sent with the wait itself. BullMQ's worker blocks on the queue's wake-up marker
 * (BZPOPMIN on its blocking connection) and, once woken, fetches the job (`moveToActive` on its other connection): one
 * more round trip between a job's arrival and its start, on every call that finds the worker idle. Redis runs a
 * blocked client's next commands as soon as its blocking command returns, so a take (`JobTaker`: BullMQ's
 * `moveToActive` per job) written right behind the BZPOPMIN, on the same connection and in the same socket write, runs
 * the moment the wait ends, and its answer comes back with the wake's.
 *
 * Armed before BullMQ's wait and collected after it. A wait BullMQ's watchdog gave up (the BZPOPMIN never answered,
 * the connection reset) may still see its take run later (ioredis re-sends unanswered commands on a reconnect):
 * whatever that take fetches goes back to the head of the queue. To close, `unblock` ends the wait from another
 * connection (CLIENT UNBLOCK, as a timeout) so the take runs and answers before the blocking connection is closed.
 */
export class WakeTake {
  private armed: string[] | undefined;
  private sent: Sent | undefined;
  /** The blocking connection's client id, per socket (read with the first wait on each). */
  private id: { socket: unknown; value?: number } | undefined;

  private readonly client: Redis;
  private readonly taker: JobTaker;
  private readonly lockDuration: number;

  constructor(client: Redis, taker: JobTaker, lockDuration: number) {
    this.client = client;
    this.taker = taker;
    this.lockDuration = lockDuration;
    // The wait and its take leave in one write at the end of the turn (`coalesceWrites`). The upstream request of the
    // job the wake started leaves after it all the same (undici writes on a reused keep-alive socket only after a
    // check phase); written later still, the wait would come after that job's answer and delay its reply instead.
    coalesceWrites(client);
    const send = client.sendCommand.bind(client) as SendCommand;
    (client as unknown as { sendCommand: SendCommand }).sendCommand = (command, stream) => {
      const tokens = this.armed;
      const socket = client.stream;
      if (!tokens || command.name !== 'bzpopmin' || client.status !== 'ready' || !socket) return send(command, stream);
      this.armed = undefined;
      if (this.id?.socket !== socket) this.readId(socket);
      const out = send(command, stream);
      const sent: Sent = { tokens, answered: false, result: this.takeAfter(tokens) };
      command.promise.then(
        () => (sent.answered = true),
        () => undefined,
      );
      this.sent = sent;
      return out;
    };
  }

  private readId(socket: unknown): void {
    const id: { socket: unknown; value?: number } = { socket };
    this.id = id;
    this.client.client('ID').then(
      (value) => (id.value = Number(value)),
      () => undefined,
    );
  }

  private takeAfter(tokens: string[]): Promise<NextJobData[] | undefined> {
    return this.taker.take(tokens, this.lockDuration).catch(() => undefined);
  }

  /** The next BZPOPMIN on the connection carries a take of up to `tokens.length` jobs, one per token. */
  arm(tokens: string[]): void {
    this.armed = tokens;
  }

  /**
   * After the wait: the jobs its take fetched (none when the wait sent no BZPOPMIN, or when it was given up; those
   * go back when their take answers). `keep` false (a worker closing): every job fetched goes back.
   */
  async collect(keep: boolean): Promise<TakenJob[]> {
    this.armed = undefined;
    const sent = this.sent;
    this.sent = undefined;
    if (!sent) return [];
    if (!sent.answered) {
      void sent.result.then((raws) => this.giveBack(this.jobsOf(sent.tokens, raws)));
      return [];
    }
    const jobs = this.jobsOf(sent.tokens, await sent.result);
    if (keep) return jobs;
    await this.giveBack(jobs);
    return [];
  }

  private jobsOf(tokens: string[], raws: NextJobData[] | undefined): TakenJob[] {
    return (raws ?? []).map((data, i) => ({ data, token: tokens[i]! }));
  }

  private async giveBack(jobs: TakenJob[]): Promise<void> {
    const taken = jobs.filter((j) => j.data[1] !== undefined).map((j) => ({ id: j.data[1]!, token: j.token }));
    await this.taker.giveBack(taken).catch(() => undefined);
  }

  /** Ends a wait in progress as if it timed out (its take then runs), through `other` (the worker closing). */
  async unblock(other: Redis): Promise<boolean> {
    const id = this.id?.socket === this.client.stream ? this.id?.value : undefined;
    if (!this.sent || id === undefined) return false;
    return Number(await other.client('UNBLOCK', id)) === 1;
  }
}
