import type { Cluster, Redis } from 'ioredis';

const coalesced = Symbol('toolplane.coalescedWrites');

/**
 * Sends the commands a connection issues in one turn of the event loop as one socket write. ioredis
 * writes every command on its own: one `write` system call (and, over loopback, one pass through the
 * receiving TCP stack) per command, the largest single cost in the edge's and the worker's CPU
 * profiles. The socket is corked at the first write of a turn and uncorked in that turn's check phase
 * (`setImmediate`), after every socket event of its poll phase: the enqueues of all requests that
 * arrived together leave as one write. The order of commands is unchanged (unlike ioredis's
 * auto-pipelining, which BullMQ does not support), only their packing. Applied to each new socket of
 * the connection (reconnects). A Cluster is returned as it is: it writes over a connection per node, which this does
 * not reach (whether to cork those too is for the cluster measurements, ADR 0043).
 */
export function coalesceWrites<C extends Redis | Cluster>(client: C): C {
  if (client.isCluster) return client;
  const redis = client as Redis;
  const patch = () => {
    const socket = redis.stream as (typeof redis.stream & { [coalesced]?: true }) | undefined;
    if (!socket || socket[coalesced]) return;
    socket[coalesced] = true;
    const write = socket.write.bind(socket) as (...args: unknown[]) => boolean;
    let corked = false;
    const uncork = () => {
      corked = false;
      socket.uncork();
    };
    socket.write = ((...args: unknown[]) => {
      if (!corked) {
        corked = true;
        socket.cork();
        setImmediate(uncork);
      }
      return write(...args);
    }) as typeof socket.write;
  };
  redis.on('connect', patch);
  patch();
  return client;
}
