import type { Cluster, Redis } from 'ioredis';

const coalesced = Symbol('toolplane.coalescedWrites');

/** One connection's turn: the sockets corked in it, and what runs at its end before they are uncorked. */
interface Turn {
  scheduled: boolean;
  corked: { uncork(): void }[];
  hooks: (() => void)[];
}

type Coalesced = { [coalesced]?: Turn };

/**
 * Sends the commands a connection issues in one turn of the event loop as one socket write. ioredis
 * writes every command on its own: one `write` system call (and, over loopback, one pass through the
 * receiving TCP stack) per command, the largest single cost in the edge's and the worker's CPU
 * profiles. The socket is corked at the first write of a turn and uncorked in that turn's check phase
 * (`setImmediate`), after every socket event of its poll phase: the enqueues of all requests that
 * arrived together leave as one write. The order of commands is unchanged (unlike ioredis's
 * auto-pipelining, which BullMQ does not support), only their packing. Applied to each new socket of
 * the connection (reconnects). A Cluster's node connections are each corked the same way (ADR 0043).
 */
export function coalesceWrites<C extends Redis | Cluster>(client: C): C {
  if (client.isCluster) {
    // A cluster writes over one connection per node: each node's, present and to come, is corked the same way.
    const cluster = client as Cluster & { [coalesced]?: true };
    if (cluster[coalesced]) return client;
    cluster[coalesced] = true;
    for (const node of cluster.nodes()) coalesceWrites(node);
    cluster.on('+node', (node: Redis) => coalesceWrites(node));
    return client;
  }
  const redis = client as Redis & Coalesced;
  if (redis[coalesced]) return client;
  const turn: Turn = { scheduled: false, corked: [], hooks: [] };
  redis[coalesced] = turn;
  const patch = () => {
    const socket = redis.stream as (typeof redis.stream & { [coalesced]?: { corked: boolean } }) | undefined;
    if (!socket || socket[coalesced]) return;
    const state = { corked: false };
    socket[coalesced] = state;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    socket.write = ((...args: unknown[]) => {
      if (!state.corked) {
        state.corked = true;
        socket.cork();
        turn.corked.push({
          uncork: () => {
            state.corked = false;
            socket.uncork();
          },
        });
        schedule(turn);
      }
      return write(...args);
    }) as typeof socket.write;
  };
  redis.on('connect', patch);
  patch();
  return client;
}

function schedule(turn: Turn): void {
  if (turn.scheduled) return;
  turn.scheduled = true;
  setImmediate(() => endTurn(turn));
}

/** The turn's hooks first (what they write joins the turn's write), then the corked sockets are written. */
function endTurn(turn: Turn): void {
  for (let i = 0; i < turn.hooks.length; i++) turn.hooks[i]!();
  turn.hooks.length = 0;
  turn.scheduled = false;
  for (const socket of turn.corked.splice(0)) socket.uncork();
}

/**
 * Runs `fn` at the end of this turn of the event loop (its check phase), before the connection's writes of the turn
 * leave: what it sends joins them in one write. On a connection `coalesceWrites` does not cork (a Cluster), at the
 * turn's end all the same.
 */
export function atTurnEnd(client: Redis | Cluster, fn: () => void): void {
  const turn = (client as Coalesced)[coalesced];
  if (!turn || client.isCluster) {
    setImmediate(fn);
    return;
  }
  turn.hooks.push(fn);
  schedule(turn);
}
